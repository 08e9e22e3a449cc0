// DistributedContext: TCPStore rendezvous, ProcessGroupGloo (and NCCL when
// built for CUDA), and the collectives the trainer uses.
#ifndef USE_C10D_GLOO
#error "compile the train module with -DUSE_C10D_GLOO (CMakeLists.txt does): ProcessGroupGloo.hpp is empty without it"
#endif
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#if defined(USE_C10D_NCCL) && __has_include(<torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>)
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#define FLYWHEEL_HAVE_NCCL 1
#endif

#include <cstdlib>
#include <map>

#include "spdlog/spdlog.h"
#include "train/distributed_impl.h"

namespace flywheel::train {

namespace {

std::string seconds_text(std::chrono::milliseconds t) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%g s", t.count() / 1000.0);
  return buffer;
}

bool is_loopback(const std::string& host) { return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0; }

c10d::ReduceOp to_c10d(ReduceOp op) {
  switch (op) {
    case ReduceOp::kMax:
      return c10d::ReduceOp::MAX;
    case ReduceOp::kMin:
      return c10d::ReduceOp::MIN;
    default:
      return c10d::ReduceOp::SUM;  // kMean divides afterwards
  }
}

// Groups tensors by dtype and device, keeping their order: one flat buffer
// (one collective) per group.
std::vector<std::vector<at::Tensor>> group_by_type(const std::vector<at::Tensor>& tensors) {
  std::map<std::pair<int, std::string>, size_t> index;
  std::vector<std::vector<at::Tensor>> groups;
  for (const auto& t : tensors) {
    auto key = std::make_pair(static_cast<int>(t.scalar_type()), t.device().str());
    auto [it, inserted] = index.emplace(key, groups.size());
    if (inserted) groups.emplace_back();
    groups[it->second].push_back(t);
  }
  return groups;
}

// One contiguous 1-D tensor holding `tensors` (the tensor itself when there
// is a single contiguous one, so the collective works in place). bf16 and
// fp16 travel as fp32 (Gloo in libtorch 1.13 has no bf16 reductions; sums
// also round less).
torch::Tensor flatten(const std::vector<at::Tensor>& tensors) {
  const auto type = reduction_dtype(tensors[0].scalar_type());
  if (tensors.size() == 1 && tensors[0].is_contiguous() && type == tensors[0].scalar_type())
    return tensors[0].view({-1});
  std::vector<torch::Tensor> flat;
  flat.reserve(tensors.size());
  for (const auto& t : tensors) flat.push_back(t.reshape({-1}).to(type));
  return torch::cat(flat);
}

void unflatten(const torch::Tensor& buffer, const std::vector<at::Tensor>& tensors) {
  if (tensors.size() == 1 && tensors[0].is_contiguous() && buffer.data_ptr() == tensors[0].data_ptr()) return;
  int64_t offset = 0;
  for (const auto& t : tensors) {
    const int64_t n = t.numel();
    t.copy_(buffer.narrow(0, offset, n).view(t.sizes()));
    offset += n;
  }
}

}  // namespace

c10::ScalarType reduction_dtype(c10::ScalarType type) {
  return type == c10::kBFloat16 || type == c10::kHalf ? c10::kFloat : type;
}

std::string exception_message(const std::exception& e) {
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e)) return c10_error->what_without_backtrace();
  return e.what();
}

Result<c10d::ProcessGroup*> DistributedContext::Impl::group_for(const c10::Device& device) {
  if (device.is_cpu()) return gloo.get();
  if (device.is_cuda() && nccl) return nccl.get();
  return Status::unsupported(
      "no process group for tensors on " + device.str() +
      (device.is_cuda() ? " (this build has no NCCL, or the context was made with device=cpu)" : ""));
}

Status DistributedContext::Impl::fail(std::string_view what, const std::exception& e) {
  std::string message = exception_message(e);
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  const bool timed_out = message.find("imed out") != std::string::npos || message.find("imeout") != std::string::npos;
  failure = Status(timed_out ? StatusCode::kDeadlineExceeded : StatusCode::kUnavailable,
                   std::string(what) + " failed on " + env.describe() + ": " + message +
                       (timed_out ? " — a rank stopped responding for longer than the timeout ("
                                  : " — another rank probably died (timeout ") +
                       seconds_text(options.timeout) + "); stopping this rank too");
  return failure;
}

Status DistributedContext::Impl::wait(const c10::intrusive_ptr<c10d::Work>& work, std::string_view what) {
  try {
    work->wait(options.timeout);
    return Status::OK();
  } catch (const std::exception& e) {
    return fail(what, e);
  }
}

DistributedContext::DistributedContext(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DistributedContext::~DistributedContext() = default;

const DistributedEnv& DistributedContext::env() const { return impl_->env; }
const DistributedOptions& DistributedContext::options() const { return impl_->options; }
const Status& DistributedContext::failure() const { return impl_->failure; }

Result<std::unique_ptr<DistributedContext>> DistributedContext::create(const DistributedEnv& env,
                                                                       const DistributedOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->env = env;
  impl->options = options;
  if (options.device != "cpu" && options.device != "cuda")
    return Status::invalid_argument("unknown distributed device '" + options.device + "' (cpu, cuda)");
#ifndef FLYWHEEL_HAVE_NCCL
  if (options.device == "cuda" && env.world_size > 1)
    return Status::unsupported(
        "data parallelism on CUDA needs NCCL, and this build of libtorch has none "
        "(train on CPU with Gloo, or rebuild against a CUDA libtorch)");
#endif
  if (env.world_size <= 1) return std::unique_ptr<DistributedContext>(new DistributedContext(std::move(impl)));

  const std::string stage_store = "connecting to the TCPStore at " + env.master_addr + ":" +
                                  std::to_string(env.master_port) +
                                  (env.rank == 0 && !env.agent_store ? " (served by this rank)" : "");
  std::string stage = stage_store;
  try {
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<uint16_t>(env.master_port);
    store_options.isServer = env.rank == 0 && !env.agent_store;
    store_options.numWorkers = env.agent_store ? c10::nullopt : c10::optional<size_t>(env.world_size);
    store_options.waitWorkers = false;  // the Gloo rendezvous below waits for every rank anyway
    store_options.timeout = options.timeout;
    auto tcp = c10::make_intrusive<c10d::TCPStore>(env.master_addr, store_options);
    impl->store = c10::make_intrusive<c10d::PrefixStore>(env.store_prefix, tcp);

    stage = "building the Gloo process group";
    auto gloo_options = c10d::ProcessGroupGloo::Options::create(options.timeout);
    if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname) {
      std::string first(ifname);
      first = first.substr(0, first.find(','));
      gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(first));
    } else if (is_loopback(env.master_addr)) {
      gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    } else {
      gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    auto gloo_store = c10::make_intrusive<c10d::PrefixStore>("gloo/", impl->store);
    impl->gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(gloo_store, env.rank, env.world_size, gloo_options);

#ifdef FLYWHEEL_HAVE_NCCL
    if (options.device == "cuda") {
      stage = "building the NCCL process group";
      // Without it a rank that dies leaves the others blocked inside NCCL.
      setenv("NCCL_ASYNC_ERROR_HANDLING", "1", /*overwrite=*/0);
      auto nccl_options = c10d::ProcessGroupNCCL::Options::create();
      nccl_options->timeout = options.timeout;
      auto nccl_store = c10::make_intrusive<c10d::PrefixStore>("nccl/", impl->store);
      impl->nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(nccl_store, env.rank, env.world_size, nccl_options);
    }
#endif
  } catch (const std::exception& e) {
    return Status(StatusCode::kUnavailable,
                  "rendezvous failed on " + env.describe() + " while " + stage + ": " + exception_message(e) +
                      " (timeout " + seconds_text(options.timeout) +
                      "; check that every rank was started, that MASTER_ADDR is reachable and MASTER_PORT free)");
  }
  spdlog::debug("distributed: {} joined the process group", env.describe());
  return std::unique_ptr<DistributedContext>(new DistributedContext(std::move(impl)));
}

Status DistributedContext::all_reduce(const std::vector<at::Tensor>& tensors, ReduceOp op) {
  if (!impl_->failure.ok()) return impl_->failure;
  if (!is_distributed() || tensors.empty()) return Status::OK();
  torch::NoGradGuard no_grad;
  for (auto& group : group_by_type(tensors)) {
    if (op == ReduceOp::kMean && !at::isFloatingType(group[0].scalar_type()))
      return Status::invalid_argument("all_reduce mean of a non-floating tensor (" +
                                      std::string(c10::toString(group[0].scalar_type())) + ")");
    FW_ASSIGN_OR_RETURN(auto* pg, impl_->group_for(group[0].device()));
    std::vector<at::Tensor> buffer{flatten(group)};
    c10d::AllreduceOptions reduce_options;
    reduce_options.reduceOp = to_c10d(op);
    reduce_options.timeout = impl_->options.timeout;
    try {
      FW_RETURN_IF_ERROR(impl_->wait(pg->allreduce(buffer, reduce_options), "all_reduce"));
    } catch (const std::exception& e) {
      return impl_->fail("all_reduce", e);
    }
    if (op == ReduceOp::kMean) buffer[0].div_(world_size());
    unflatten(buffer[0], group);
  }
  return Status::OK();
}

Result<std::vector<double>> DistributedContext::all_reduce_scalars(std::vector<double> values, ReduceOp op) {
  if (!impl_->failure.ok()) return impl_->failure;
  if (!is_distributed() || values.empty()) return values;
  torch::Tensor t = torch::from_blob(values.data(), {static_cast<int64_t>(values.size())}, torch::kFloat64).clone();
  FW_RETURN_IF_ERROR(all_reduce({t}, op));
  std::copy(t.data_ptr<double>(), t.data_ptr<double>() + values.size(), values.begin());
  return values;
}

Result<double> DistributedContext::all_reduce_scalar(double value, ReduceOp op) {
  FW_ASSIGN_OR_RETURN(auto values, all_reduce_scalars({value}, op));
  return values[0];
}

Status DistributedContext::broadcast(const std::vector<at::Tensor>& tensors, int root) {
  if (!impl_->failure.ok()) return impl_->failure;
  if (root < 0 || root >= world_size())
    return Status::invalid_argument("broadcast root " + std::to_string(root) + " is not a rank of " +
                                    std::to_string(world_size()));
  if (!is_distributed() || tensors.empty()) return Status::OK();
  torch::NoGradGuard no_grad;
  for (auto& group : group_by_type(tensors)) {
    FW_ASSIGN_OR_RETURN(auto* pg, impl_->group_for(group[0].device()));
    std::vector<at::Tensor> buffer{flatten(group)};
    c10d::BroadcastOptions broadcast_options;
    broadcast_options.rootRank = root;
    broadcast_options.timeout = impl_->options.timeout;
    try {
      FW_RETURN_IF_ERROR(impl_->wait(pg->broadcast(buffer, broadcast_options), "broadcast"));
    } catch (const std::exception& e) {
      return impl_->fail("broadcast", e);
    }
    unflatten(buffer[0], group);
  }
  return Status::OK();
}

Status DistributedContext::broadcast_module(torch::nn::Module& module, int root) {
  std::vector<at::Tensor> tensors;
  for (auto& p : module.parameters()) tensors.push_back(p.detach());
  for (auto& b : module.buffers()) tensors.push_back(b.detach());
  return broadcast(tensors, root);
}

Status DistributedContext::barrier() {
  if (!impl_->failure.ok()) return impl_->failure;
  if (!is_distributed()) return Status::OK();
  try {
    c10d::BarrierOptions barrier_options;
    barrier_options.timeout = impl_->options.timeout;
    return impl_->wait(impl_->gloo->barrier(barrier_options), "barrier");
  } catch (const std::exception& e) {
    return impl_->fail("barrier", e);
  }
}

}  // namespace flywheel::train
