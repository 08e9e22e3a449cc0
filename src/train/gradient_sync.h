// GradientSync: averages gradients over the ranks of a DistributedContext in
// buckets, overlapping the communication with the backward pass (what
// PyTorch's DistributedDataParallel does, without wrapping the module).
//
// Use, per optimizer step of K micro-batches:
//   for k in 0..K-1:
//     sync.begin_backward(/*sync=*/k == K - 1);  // earlier micro-steps accumulate locally
//     loss_k.backward();                          // loss_k already divided by K
//   FW_RETURN_IF_ERROR(sync.finish_backward());   // every .grad now holds the mean over ranks
//   optimizer.step();
// With mean-reduced losses over equal-sized rank slices, the result equals
// single-process training on the concatenated batch. When ranks count
// different numbers of target tokens (masked SFT), scale each rank's loss by
// world_size * local_tokens / global_tokens (DistributedContext::
// all_reduce_scalar of the token count) to keep the global token mean.
//
// How the overlap works in libtorch 1.13: libtorch has no
// register_post_accumulate_grad_hook yet (PyTorch 2.1), and a
// Tensor::register_hook on a leaf runs *before* the gradient is accumulated
// into .grad, so with gradient accumulation it sees only this micro-step's
// part. Instead, as the 1.13 DDP Reducer does, each parameter's
// AccumulateGrad node (torch::autograd::impl::grad_accumulator) gets a
// post-hook: it runs right after .grad has been updated during backward. The
// hook copies .grad into its bucket's flat buffer (divided by world size);
// when the last gradient of a bucket arrives the bucket's all-reduce is
// launched asynchronously on the Gloo (or NCCL) group while backward goes on
// computing earlier layers. Buckets are filled in reverse parameter order
// (roughly the order backward produces gradients) and launched strictly in
// bucket order, so every rank issues the same collectives in the same order
// whatever order its hooks fire in. finish_backward launches what is left
// (parameters that got no gradient count as zeros), waits, and copies the
// averaged buffers back into .grad. Holding the accumulators keeps them (and
// their hooks) alive: the parameter itself only keeps a weak reference.
//
// Thread-safety: hooks may fire on autograd worker threads (CUDA); a mutex
// guards the state. begin/finish are called from the training thread. The
// parameters must stay the same tensors (same device and dtype) for the life
// of the GradientSync; the DistributedContext must outlive it.
//
// Errors: a failed collective (a rank died or timed out) is returned by
// finish_backward with the context's failure message; a parameter that got
// two gradients within one synchronized backward is kInternal (call
// begin_backward before each backward).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/status.h"
#include "train/distributed.h"

namespace flywheel::train {

struct GradientSyncOptions {
  int64_t bucket_bytes = 25 << 20;
  // Launch buckets from autograd hooks during backward; false: all of them
  // in finish_backward (for measuring what the overlap buys).
  bool overlap = true;
};

struct GradientSyncStats {
  int64_t buckets = 0;
  int64_t parameters = 0;
  int64_t launched_during_backward = 0;  // in the last synchronized backward
  double last_wait_seconds = 0;          // finish_backward's wait for communication, last step
  double total_wait_seconds = 0;
  int64_t synchronized_steps = 0;
};

class GradientSync {
 public:
  // `parameters`: the trainable leaves (those without requires_grad are
  // skipped). A no-op when the context has a single rank.
  static Result<std::unique_ptr<GradientSync>> create(DistributedContext& context,
                                                      const std::vector<at::Tensor>& parameters,
                                                      const GradientSyncOptions& options = {});
  ~GradientSync();
  GradientSync(const GradientSync&) = delete;
  GradientSync& operator=(const GradientSync&) = delete;

  // Before each backward: sync = true on the last micro-step of an
  // accumulation (its gradients are all-reduced), false to only accumulate.
  void begin_backward(bool sync);
  // After the backward that began with sync = true: waits and writes the mean
  // over ranks into every parameter's .grad. OK and no-op after sync = false.
  Status finish_backward();

  const GradientSyncStats& stats() const;

  struct State;

 private:
  explicit GradientSync(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace flywheel::train
