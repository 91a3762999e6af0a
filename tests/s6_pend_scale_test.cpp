// S6.3 at scale: what holding 10,000 pended connects of real processes needs from the library
// beyond the engine (bench/pend_scale measures time and memory; nothing here is timed).
#include <gtest/gtest.h>
#include <pthread.h>

#include <cstring>

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
