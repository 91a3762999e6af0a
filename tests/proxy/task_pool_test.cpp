// The proxy's pool of handshake threads (proxy/task_pool.h; S17.2: the upstream handshakes of the
// built-in proxy): every task runs once, threads are reused and capped, stop() runs what is queued.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "proxy/task_pool.h"

using openwfp::proxy::TaskPool;

TEST(S17_2, TaskPoolRunsEveryTaskOnceOnAtMostItsThreads) {
  std::atomic<int> ran{0}, running{0}, most{0};
  {
    TaskPool pool(4);
    for (int i = 0; i < 200; ++i) {
      pool.post([&] {
        const int now = ++running;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        --running;
        ++ran;
      });
    }
    EXPECT_LE(pool.threads(), 4u);
    pool.stop();  // runs what is still queued, then joins
    EXPECT_EQ(ran.load(), 200);
    pool.post([&] { ++ran; });  // after stop: on this thread, not dropped
    EXPECT_EQ(ran.load(), 201);
  }
  EXPECT_LE(most.load(), 4);
  EXPECT_GE(most.load(), 2) << "tasks that sleep should overlap on several threads";
}

TEST(S17_2, TaskPoolReusesAnIdleThread) {
  TaskPool pool(8);
  std::atomic<int> ran{0};
  for (int i = 0; i < 20; ++i) {
    pool.post([&] { ++ran; });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (ran.load() <= i && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
    ASSERT_GT(ran.load(), i) << "task " << i << " did not run within 5 s";
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // let its thread go idle again
  }
  // One task at a time, each finished before the next was posted: idle threads took them (a
  // thread late going idle may make the pool start another; not one per task).
  EXPECT_LT(pool.threads(), 10u);
}
