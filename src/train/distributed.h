// Data parallelism over c10d: where this process sits in the job
// (DistributedEnv, read from the launcher's environment) and the process
// group it talks through (DistributedContext). Gradient all-reduce during
// backward lives in train/gradient_sync.h.
//
// Launchers understood (first match wins):
//   torchrun   RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT
//              (and TORCHELASTIC_USE_AGENT_STORE: the agent already serves
//              the TCPStore, so rank 0 joins it as a client)
//   mpi        OMPI_COMM_WORLD_RANK/_SIZE/_LOCAL_RANK (Open MPI) or
//              PMI_RANK/PMI_SIZE/MPI_LOCALRANKID (MPICH); MASTER_ADDR/PORT
//              from the environment, else 127.0.0.1 and 29500 (one node only)
//   slurm      SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID and the first host
//              of SLURM_STEP_NODELIST (or SLURM_JOB_NODELIST); MASTER_PORT
//              or 20000 + SLURM_JOB_ID % 10000, so two jobs sharing a node
//              do not collide
//   single     none of the above: rank 0 of 1
//
// Rendezvous: rank 0 serves a c10d TCPStore on MASTER_ADDR:MASTER_PORT; the
// others connect to it; then a ProcessGroupGloo (CPU tensors) is built over
// it, and a ProcessGroupNCCL (CUDA tensors) when the build has NCCL and the
// options ask for CUDA. Every collective picks its group by the tensors'
// device.
//
// Failure: every rendezvous step and collective is bounded by
// DistributedOptions::timeout. A rank that dies closes its sockets, so the
// others usually fail at once ("connection closed by peer"); a rank that hangs
// makes the others fail when the timeout expires. Either way the call returns
// a kUnavailable / kDeadlineExceeded Status naming the operation, the rank and
// the timeout, and the context is unusable afterwards (every later call
// returns the same error): the caller should exit non-zero.
//
// Thread-safety: one thread drives a context. Collectives are matched across
// ranks by order, so every rank must issue the same collectives in the same
// order with tensors of the same shapes and dtypes.
//
// This header is torch-free (at::Tensor and torch::nn::Module are only
// declared) so that code which merely passes a context around does not pay for
// libtorch's headers.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace at {
class Tensor;
}
namespace torch::nn {
class Module;
}

namespace flywheel::train {

inline constexpr int kDefaultMasterPort = 29500;

struct DistributedEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = kDefaultMasterPort;
  std::string launcher = "single";  // torchrun | slurm | mpi | single
  // torchrun's elastic agent already serves the TCPStore on
  // MASTER_ADDR:MASTER_PORT, so no rank may start a server there.
  bool agent_store = false;
  // Keys of this attempt in the store (torchrun restarts reuse the agent's store).
  std::string store_prefix = "flywheel/0/";

  bool is_distributed() const { return world_size > 1; }
  // "rank 1 of 4 (local 1, torchrun, master 10.0.0.1:29500)".
  std::string describe() const;
};

// Looks an environment variable up; std::nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(std::string_view)>;

// Reads the launcher's variables (see the top of this file). Errors
// (kInvalidArgument) name the variable: a non-integer or out-of-range value, a
// rank not below the world size, RANK without WORLD_SIZE, a missing
// MASTER_ADDR for a multi-node launch, an unparsable Slurm node list.
Result<DistributedEnv> detect_distributed_env();
Result<DistributedEnv> detect_distributed_env(const EnvLookup& getenv);

// Expands a Slurm host list ("node[01-03,07],gpu5" -> node01 node02 node03
// node07 gpu5; "rack[1-2]-n[1-2]" -> rack1-n1 rack1-n2 rack2-n1 rack2-n2),
// keeping zero padding. At most `limit` names (kOutOfRange beyond).
Result<std::vector<std::string>> expand_slurm_nodelist(std::string_view list, size_t limit = 1 << 16);
// The first host of a Slurm host list, without expanding the rest.
Result<std::string> first_slurm_host(std::string_view list);

enum class ReduceOp { kSum, kMean, kMax, kMin };

struct DistributedOptions {
  // Bound on the rendezvous and on every collective.
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};
  // "cpu": Gloo only. "cuda": also NCCL (the build must have it), on device
  // local_rank; CPU tensors (scalars, barriers) still go through Gloo.
  std::string device = "cpu";
};

class DistributedContext {
 public:
  // Rendezvous with the other ranks (a no-op when env.world_size == 1: every
  // collective then leaves its tensors as they are).
  static Result<std::unique_ptr<DistributedContext>> create(const DistributedEnv& env,
                                                            const DistributedOptions& options = {});
  ~DistributedContext();
  DistributedContext(const DistributedContext&) = delete;
  DistributedContext& operator=(const DistributedContext&) = delete;

  const DistributedEnv& env() const;
  const DistributedOptions& options() const;
  int rank() const { return env().rank; }
  int world_size() const { return env().world_size; }
  int local_rank() const { return env().local_rank; }
  bool is_main() const { return env().rank == 0; }  // rank 0 writes checkpoints and logs
  bool is_distributed() const { return env().world_size > 1; }

  // In place, over all ranks. The tensors may differ in shape and dtype (they
  // are flattened into one buffer per dtype and device: one collective each).
  Status all_reduce(const std::vector<at::Tensor>& tensors, ReduceOp op);
  Status all_reduce_mean(const std::vector<at::Tensor>& tensors) { return all_reduce(tensors, ReduceOp::kMean); }
  // Scalars (loss sums, token counts) in one collective, as float64.
  Result<std::vector<double>> all_reduce_scalars(std::vector<double> values, ReduceOp op);
  Result<double> all_reduce_scalar(double value, ReduceOp op);
  // In place: every rank ends with root's values.
  Status broadcast(const std::vector<at::Tensor>& tensors, int root = 0);
  // Parameters and buffers of `module` from root, so all ranks start identical.
  Status broadcast_module(torch::nn::Module& module, int root = 0);
  Status barrier();

  // The first collective error, or OK.
  const Status& failure() const;

  struct Impl;
  Impl& impl() { return *impl_; }  // for gradient_sync.cpp

 private:
  explicit DistributedContext(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace flywheel::train
