// linux/call_deadlines.h - timeouts the application set on its socket bound how long a pended
// call blocks (S13.10).
//
// A blocking connect() on a socket with SO_SNDTIMEO returns, when the timeout expires first,
// EINPROGRESS (socket(7); __inet_stream_connect). When the classify pends, the Interceptor reads
// the socket's SO_SNDTIMEO on its duplicate (sendTimeoutOf: one getsockopt, plus an fcntl when a
// timeout is set; a connect answered at once pays neither) and arms a deadline at notification
// time + that timeout. When it expires first the call is answered EINPROGRESS, as the kernel would; the
// verdict arriving later is discarded (Call::claim: only the first answer counts), so a late
// permit does not connect the socket, which stays unconnected.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

namespace openwfp::linux_backend {

// SO_SNDTIMEO of a blocking socket (0 when none is set or the socket is non-blocking).
std::chrono::microseconds sendTimeoutOf(int sock);

class CallDeadlines {
 public:
  using Clock = std::chrono::steady_clock;

  ~CallDeadlines() { stop(); }
  // Runs expire() on the deadline thread at `when` (started on first use), unless stop() comes
  // first. expire must be cheap and must not call arm().
  void arm(Clock::time_point when, std::function<void()> expire);
  // Joins the thread; pending deadlines are dropped.
  void stop();
  size_t pending() const;

 private:
  void run();

  mutable std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  std::multimap<Clock::time_point, std::function<void()>> due_;
  bool stopped_ = false;
  std::thread thread_;
};

}  // namespace openwfp::linux_backend
