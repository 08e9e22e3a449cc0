// A persistent pool of worker threads for the native forward pass: run()
// hands n_tasks to the workers and the calling thread and returns when all
// are done. Sized to the machine (hardware_concurrency - 1 workers plus the
// caller). Workers spin briefly for the next job, then sleep on a condition
// variable, so a decode step's many small products pay no wake-up latency
// while an idle server burns no CPU. No allocation per call.
//
// Thread-safety: run() may be called from one thread at a time (the forward
// pass owns its pool); fn must be safe to call concurrently on distinct tasks.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace flywheel::infer {

class ThreadPool {
 public:
  // threads <= 0: hardware_concurrency.
  explicit ThreadPool(int threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(task, thread) for every task in [0, n_tasks); thread in [0, size()).
  void run(int64_t n_tasks, const std::function<void(int64_t task, int thread)>& fn);

  // Splits [0, n) into about size() contiguous chunks (multiples of `align`)
  // and calls fn(begin, end) for each.
  void parallel_for(int64_t n, int64_t align, const std::function<void(int64_t begin, int64_t end)>& fn);

 private:
  void worker_loop(int thread);
  void work(int thread);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int64_t> next_task_{0};
  std::atomic<int> pending_{0};
  int64_t n_tasks_ = 0;
  const std::function<void(int64_t, int)>* fn_ = nullptr;
  bool stop_ = false;
};

}  // namespace flywheel::infer
