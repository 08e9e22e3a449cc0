#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "infer/thread_pool.h"

namespace flywheel::infer {
namespace {

TEST(ThreadPool, RunsEveryTaskOnceAcrossManyCalls) {
  ThreadPool pool(4);
  ASSERT_EQ(pool.size(), 4);
  std::vector<std::atomic<int>> hits(1000);
  for (int call = 0; call < 200; ++call) {
    const int64_t n = 1 + call * 5 % 1000;
    pool.run(n, [&](int64_t task, int thread) {
      ASSERT_GE(thread, 0);
      ASSERT_LT(thread, 4);
      hits[task].fetch_add(1);
    });
    for (int64_t t = 0; t < 1000; ++t)
      ASSERT_EQ(hits[t].exchange(0), t < n ? 1 : 0) << "call " << call << " task " << t;
  }
}

TEST(ThreadPool, ParallelForCoversTheRangeInAlignedChunks) {
  ThreadPool pool(3);
  std::vector<std::atomic<int>> hits(101);
  pool.parallel_for(101, 8, [&](int64_t b, int64_t e) {
    EXPECT_EQ(b % 8, 0);
    for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1);
  });
  for (auto& h : hits) EXPECT_EQ(h.load(), 1);
}

}  // namespace
}  // namespace flywheel::infer
