// GradientSync: bucketed gradient all-reduce launched from AccumulateGrad
// post-hooks (see the header for why post-hooks on the accumulator).
#include "train/gradient_sync.h"

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/utils/lambda_post_hook.h>

#include <chrono>
#include <mutex>
#include <unordered_set>

#include "train/distributed_impl.h"

namespace flywheel::train {

struct Bucket {
  std::vector<size_t> params;    // indices into State::params
  std::vector<int64_t> offsets;  // of each parameter in `buffer`
  torch::Tensor buffer;          // flat, on the parameters' device; fp32 for bf16/fp16 parameters
  size_t pending = 0;            // gradients still to arrive this backward
  c10::intrusive_ptr<c10d::Work> work;
};

struct GradientSync::State {
  DistributedContext::Impl* context = nullptr;
  GradientSyncOptions options;
  std::vector<torch::Tensor> params;
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators;
  std::vector<uintptr_t> hook_keys;
  std::vector<size_t> bucket_of;
  std::vector<bool> ready;
  std::vector<Bucket> buckets;
  size_t next_launch = 0;
  bool armed = false, sync = false;
  Status error;
  GradientSyncStats stats;
  std::mutex mutex;

  void mark_ready(size_t index);
  void launch(size_t b);
  void launch_in_order(bool all);
};

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

// Called with the mutex held.
void GradientSync::State::launch(size_t b) {
  Bucket& bucket = buckets[b];
  torch::NoGradGuard no_grad;
  const double scale = 1.0 / context->env.world_size;
  for (size_t k = 0; k < bucket.params.size(); ++k) {
    const torch::Tensor& p = params[bucket.params[k]];
    torch::Tensor slice = bucket.buffer.narrow(0, bucket.offsets[k], p.numel());
    const torch::Tensor& grad = p.grad();
    if (grad.defined()) {
      slice.copy_(grad.reshape({-1}));
      slice.mul_(scale);  // exact for a power-of-two world size, as dividing the sum would be
    } else {
      slice.zero_();
    }
  }
  if (error.ok() && !context->failure.ok()) error = context->failure;
  if (!error.ok()) return;
  try {
    auto group = context->group_for(bucket.buffer.device());
    if (!group.ok()) {
      error = group.status();
      return;
    }
    std::vector<at::Tensor> tensors{bucket.buffer};
    c10d::AllreduceOptions reduce_options;
    reduce_options.reduceOp = c10d::ReduceOp::SUM;
    reduce_options.timeout = context->options.timeout;
    bucket.work = (*group)->allreduce(tensors, reduce_options);
  } catch (const std::exception& e) {
    error = context->fail("gradient all_reduce", e);
  }
}

// Launches the buckets whose gradients are all in (every bucket when `all`),
// never out of bucket order: collectives must match across ranks.
void GradientSync::State::launch_in_order(bool all) {
  while (next_launch < buckets.size() && (all || buckets[next_launch].pending == 0)) launch(next_launch++);
}

void GradientSync::State::mark_ready(size_t index) {
  std::lock_guard<std::mutex> lock(mutex);
  if (!armed || !sync) return;
  if (ready[index]) {
    if (error.ok())
      error = Status::internal("parameter " + std::to_string(index) +
                               " received two gradients in one synchronized backward: call "
                               "GradientSync::begin_backward(false) before every backward but the last");
    return;
  }
  ready[index] = true;
  Bucket& bucket = buckets[bucket_of[index]];
  if (--bucket.pending == 0 && options.overlap) {
    const size_t before = next_launch;
    launch_in_order(false);
    stats.launched_during_backward += static_cast<int64_t>(next_launch - before);
  }
}

GradientSync::GradientSync(std::unique_ptr<State> state) : state_(std::move(state)) {}

GradientSync::~GradientSync() {
  for (size_t i = 0; i < state_->accumulators.size(); ++i) state_->accumulators[i]->del_post_hook(state_->hook_keys[i]);
  // Pending collectives write into our buffers: let them finish first.
  for (auto& bucket : state_->buckets) {
    if (!bucket.work) continue;
    try {
      bucket.work->wait(state_->context->options.timeout);
    } catch (const std::exception&) {
    }
  }
}

Result<std::unique_ptr<GradientSync>> GradientSync::create(DistributedContext& context,
                                                           const std::vector<at::Tensor>& parameters,
                                                           const GradientSyncOptions& options) {
  if (options.bucket_bytes < 1) return Status::invalid_argument("bucket_bytes must be positive");
  auto state = std::make_unique<State>();
  state->context = &context.impl();
  state->options = options;
  std::unordered_set<const void*> seen;  // a tied weight listed twice is one parameter
  for (const auto& p : parameters) {
    if (!p.defined() || !p.requires_grad() || !seen.insert(p.unsafeGetTensorImpl()).second) continue;
    if (!p.is_leaf()) return Status::invalid_argument("GradientSync needs leaf parameters, got a computed tensor");
    if (p.is_sparse()) return Status::unsupported("GradientSync does not handle sparse parameters");
    state->params.push_back(p);
  }
  if (state->params.empty()) return Status::invalid_argument("GradientSync: no parameter requires a gradient");
  state->stats.parameters = static_cast<int64_t>(state->params.size());
  if (!context.is_distributed()) return std::unique_ptr<GradientSync>(new GradientSync(std::move(state)));
  if (!context.failure().ok()) return context.failure();

  // Buckets in reverse order of the parameters: backward produces the last
  // layers' gradients first. A bucket holds one dtype on one device.
  const size_t n = state->params.size();
  state->bucket_of.assign(n, 0);
  state->ready.assign(n, false);
  int64_t bytes = 0;
  for (size_t r = 0; r < n; ++r) {
    const size_t i = n - 1 - r;
    const torch::Tensor& p = state->params[i];
    const int64_t p_bytes = p.numel() * static_cast<int64_t>(p.element_size());
    bool fresh = state->buckets.empty() || bytes + p_bytes > options.bucket_bytes;
    if (!fresh) {
      const auto& first = state->params[state->buckets.back().params.front()];
      fresh = first.scalar_type() != p.scalar_type() || first.device() != p.device();
    }
    if (fresh) {
      state->buckets.emplace_back();
      bytes = 0;
    }
    Bucket& bucket = state->buckets.back();
    bucket.offsets.push_back(
        bucket.params.empty() ? 0 : bucket.offsets.back() + state->params[bucket.params.back()].numel());
    bucket.params.push_back(i);
    state->bucket_of[i] = state->buckets.size() - 1;
    bytes += p_bytes;
  }
  for (auto& bucket : state->buckets) {
    const auto& last = state->params[bucket.params.back()];
    const int64_t numel = bucket.offsets.back() + last.numel();
    bucket.buffer =
        torch::zeros({numel}, last.options().dtype(reduction_dtype(last.scalar_type())).requires_grad(false));
  }
  state->stats.buckets = static_cast<int64_t>(state->buckets.size());

  // Owned before the hooks exist, so that an error below removes them again.
  std::unique_ptr<GradientSync> sync(new GradientSync(std::move(state)));
  State* raw = sync->state_.get();
  for (size_t i = 0; i < n; ++i) {
    auto accumulator = torch::autograd::impl::grad_accumulator(raw->params[i]);
    if (!accumulator) return Status::internal("parameter " + std::to_string(i) + " has no gradient accumulator");
    uintptr_t key = accumulator->add_post_hook(std::make_unique<torch::autograd::utils::LambdaPostHook>(
        [raw, i](const torch::autograd::variable_list& outputs, const torch::autograd::variable_list&) {
          raw->mark_ready(i);
          return outputs;
        }));
    raw->accumulators.push_back(std::move(accumulator));
    raw->hook_keys.push_back(key);
  }
  return sync;
}

void GradientSync::begin_backward(bool sync) {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->armed = true;
  state_->sync = sync;
  std::fill(state_->ready.begin(), state_->ready.end(), false);
  for (auto& bucket : state_->buckets) {
    bucket.pending = bucket.params.size();
    bucket.work.reset();
  }
  state_->next_launch = 0;
  if (sync) state_->stats.launched_during_backward = 0;
}

Status GradientSync::finish_backward() {
  State& s = *state_;
  std::unique_lock<std::mutex> lock(s.mutex);
  if (!s.armed) return Status::internal("GradientSync::finish_backward without begin_backward");
  s.armed = false;
  if (!s.sync || s.buckets.empty()) return Status::OK();
  const auto start = std::chrono::steady_clock::now();
  s.launch_in_order(true);
  Status status = s.error;
  for (auto& bucket : s.buckets) {
    if (!status.ok()) break;
    if (bucket.work) status = s.context->wait(bucket.work, "gradient all_reduce");
  }
  if (!status.ok()) {
    // Pending work of the remaining buckets still references the buffers.
    for (auto& bucket : s.buckets)
      if (bucket.work) {
        try {
          bucket.work->wait(s.context->options.timeout);
        } catch (const std::exception&) {
        }
      }
    s.error = Status::OK();
    return status;
  }
  torch::NoGradGuard no_grad;
  for (auto& bucket : s.buckets) {
    bucket.work.reset();
    for (size_t k = 0; k < bucket.params.size(); ++k) {
      torch::Tensor& p = s.params[bucket.params[k]];
      torch::Tensor mean = bucket.buffer.narrow(0, bucket.offsets[k], p.numel()).view(p.sizes());
      torch::Tensor& grad = p.mutable_grad();
      if (grad.defined()) {
        grad.copy_(mean);
      } else {
        grad = mean.clone();
      }
    }
  }
  s.stats.last_wait_seconds = seconds_since(start);
  s.stats.total_wait_seconds += s.stats.last_wait_seconds;
  s.stats.synchronized_steps += 1;
  return Status::OK();
}

const GradientSyncStats& GradientSync::stats() const { return state_->stats; }

}  // namespace flywheel::train
