// Private to the train module: the c10d objects behind DistributedContext,
// shared by distributed.cpp and gradient_sync.cpp. Includes libtorch.
#pragma once

#include <torch/torch.h>

#include <exception>
#include <string>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include "train/distributed.h"

namespace flywheel::train {

struct DistributedContext::Impl {
  DistributedEnv env;
  DistributedOptions options;
  c10::intrusive_ptr<c10d::Store> store;        // PrefixStore over the TCPStore
  c10::intrusive_ptr<c10d::ProcessGroup> gloo;  // CPU tensors; null when world_size == 1
  c10::intrusive_ptr<c10d::ProcessGroup> nccl;  // CUDA tensors; null unless built with NCCL and asked for
  Status failure;                               // the first collective error: the group is unusable after it

  // The group for tensors on `device`, or an error when there is none.
  Result<c10d::ProcessGroup*> group_for(const c10::Device& device);

  // Waits for `work`; on error records and returns a Status naming `what`.
  Status wait(const c10::intrusive_ptr<c10d::Work>& work, std::string_view what);
  // Turns an exception thrown by c10d or Gloo into the recorded failure.
  Status fail(std::string_view what, const std::exception& e);
};

// The dtype a tensor is reduced in: fp32 for bf16 and fp16, else its own.
c10::ScalarType reduction_dtype(c10::ScalarType type);

// The message of an exception without libtorch's C++ backtrace.
std::string exception_message(const std::exception& e);

}  // namespace flywheel::train
