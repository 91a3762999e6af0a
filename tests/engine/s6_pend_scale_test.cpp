// S6.3/S6.4 at scale: what holding 10,000 pended connects needs beyond the engine's pend logic
// (bench/pend_scale measures time and memory; nothing here is timed).
#include <gtest/gtest.h>
#include <pthread.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <vector>

#include "engine/pend_timer.h"

namespace {

// Uses about 12 KiB of its stack.
void* touchStack(void* arg) {
  volatile char scratch[12 * 1024];
  std::memset(const_cast<char*>(scratch), 1, sizeof scratch);
  *static_cast<int*>(arg) = scratch[sizeof scratch - 1];
  return nullptr;
}

}  // namespace

// The load test's client makes 10,000 blocking connects, one thread with a small stack each,
// and links this library (so does any proxy using the winsock shim). glibc carves the static TLS
// of every loaded library out of each thread's stack and zeroes it, so a large thread_local
// buffer in the library (it had a 32 KiB sock_diag buffer) costs every thread that much
// resident memory and makes small-stack threads fail to start (EINVAL).
TEST(Spec, S6_3_SmallStackThreadsStartBesideTheLibrary) {
  pthread_attr_t attr;
  ASSERT_EQ(pthread_attr_init(&attr), 0);
  ASSERT_EQ(pthread_attr_setstacksize(&attr, 32 * 1024), 0);
  int touched = 0;
  pthread_t t;
  int rc = pthread_create(&t, &attr, touchStack, &touched);
  pthread_attr_destroy(&attr);
  ASSERT_EQ(rc, 0) << "a thread with a 32 KiB stack cannot start: " << std::strerror(rc);
  ASSERT_EQ(pthread_join(t, nullptr), 0);
  EXPECT_EQ(touched, 1);
}

// The deadline timer (one thread, a min-heap) is woken only when a new deadline is the earliest
// one: a deadline scheduled after a later one must still fire first, at its time.
TEST(Spec, S6_4_DeadlinesFireInDeadlineOrderWhateverTheOrderOfScheduling) {
  using Clock = openwfp::engine::PendTimer::Clock;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int> fired;
  auto record = [&](int which) {
    return [&, which] {
      std::lock_guard lock(mu);
      fired.push_back(which);
      cv.notify_all();
    };
  };
  openwfp::engine::PendTimer timer;
  const auto now = Clock::now();
  timer.schedule(now + std::chrono::minutes(10), record(0));  // never reached in this test
  timer.schedule(now + std::chrono::milliseconds(40), record(2));
  timer.schedule(now + std::chrono::milliseconds(20), record(1));
  timer.schedule(now + std::chrono::milliseconds(60), record(3));
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return fired.size() >= 3; }))
        << "deadlines scheduled after a later one did not fire";
    EXPECT_EQ(fired, (std::vector<int>{1, 2, 3}));
  }
  EXPECT_EQ(timer.pending(), 1u);
  timer.stop();  // drops the 10-minute one unrun
  EXPECT_EQ(fired.size(), 3u);
}
