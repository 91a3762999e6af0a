// proxy/verify_proxy.h - the user-mode half of the verify-before-accept flow (SPEC S10.2).
//
// Talks to the verify_proxy callout driver through its device (verify_proxy_channel.h):
//   1. REGISTER its listen ports; from then on the driver redirects TCP connects to it.
//   2. A fixed pool of workers, each keeping its own IOCTL_VP_NEXT outstanding on the one device
//      handle, so a pended connect finds a worker already waiting; each completion is a pended
//      connect: original destination + the connection's SIO-format redirect records.
//   3. The worker that received it: a new socket, SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS with
//      those records (so the redirector sees this connection as its own and does not redirect it
//      again, S10.3), a non-blocking connect to the original destination and, when that is done
//      at once (loopback, refused), the outcome (IOCTL_VP_OUTCOME) on the same thread. A connect
//      still in progress goes to the connect waiter (one epoll thread with the deadlines), which
//      reports its outcome when it ends, and the worker returns to NEXT: a slow destination never
//      holds a worker. The driver then completes the application's connect: PERMIT -> it
//      connects to us, BLOCK -> it is refused at once and we never accept anything for it.
//   4. Accepts the application's connection, pairs it with the upstream socket by the redirect
//      context (SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT = VP_CONTEXT), relays with splice.
// Deadlines (S14.8): each request carries the time at which the driver BLOCKs it itself
// (VP_REQUEST.deadline, REGISTER's pendTimeoutMs after it was pended). A request handed over
// after its deadline (the proxy was stopped or overloaded) is skipped: no upstream connect, no
// OUTCOME; an upstream connect still in progress at the deadline is abandoned the same way; an
// OUTCOME the driver no longer knows (ENOENT after the deadline) is expected, not an error.
// One log line per connection: when its relay ends (PERMIT), or when it is refused (BLOCK).
// One device handle: the driver unregisters the proxy when the handle it registered with is
// closed.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "policy/policy.h"
#include "proxy/relay.h"

struct VP_REQUEST;
namespace openwfp::control {
class ThreadConnection;
}

namespace openwfp::proxy {

class TaskPool;

struct VerifyProxyOptions {
  std::string device = "\\\\.\\OpenwfpVerifyProxy";
  uint16_t listenPortV4 = 0;  // 0: ephemeral
  bool listenV6 = true;
  std::chrono::milliseconds upstreamTimeout{5000};
  unsigned workers = 4;  // NEXT requests kept outstanding (at least 1)
  // REGISTER's pendTimeoutMs: the driver BLOCKs a connect not answered within it (0: the
  // driver's default, VP_DEFAULT_PEND_TIMEOUT_MS).
  std::chrono::milliseconds pendTimeout{0};
  // The requests are POLICY_PROXY_REQUESTs of the policy driver (openwfp/policy_channel.h): each
  // names its upstream. Otherwise (the verify_proxy driver) every request uses `upstream`.
  bool policyRequests = false;
  policy::Upstream upstream;  // direct by default; socks5 / http: proxy/upstream.h
  // SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS on each upstream socket, so that the redirector sees
  // it as its own (S10.3). A proxy outside the supervised tree (the one `run --policy` starts in
  // the openwfp process) has no classified connects and turns it off.
  bool setRecords = true;
  // Opt-in (docs/performance.md, "Hand-off"): the records go on the upstream socket with
  // SIO_OPENWFP_HAND_OFF_WITH_RECORDS, so that once the connect is verified the application
  // gets the upstream socket itself and no relay runs. Direct upstreams only; where the engine
  // refuses the offer (no supervisor behind the channel) the proxy relays as without it.
  bool handOff = false;
  // The driver is loaded in this process: open its device here even when a control channel is
  // set (the built-in policy proxy of `run --policy` and of the engine).
  bool localDevice = false;
  // Receives every log line (without newline). Default: stdout.
  std::function<void(const std::string&)> log;
};

struct VerifyProxyStats {
  uint64_t requests = 0;         // pended connects handed to us
  uint64_t upstreamOk = 0;       // upstream connects that worked
  uint64_t upstreamFailed = 0;   // ... that failed (driver told to BLOCK)
  uint64_t accepted = 0;         // application connections accepted and paired
  uint64_t unpaired = 0;         // accepted connections without a matching upstream (closed)
  uint64_t relaysFinished = 0;
  uint64_t expired = 0;          // requests past their deadline: skipped, or their connect abandoned
  uint64_t handedOff = 0;        // upstream sockets handed to the application (no relay)
};

// True when a request whose VP_REQUEST.deadline is `deadline` (KeQueryInterruptTime units, 100 ns
// of CLOCK_MONOTONIC) has passed it at `now` (0: no deadline).
bool requestExpired(uint64_t deadline, std::chrono::steady_clock::time_point now);
// The steady_clock time of such a deadline.
std::chrono::steady_clock::time_point deadlineTime(uint64_t deadline);

class VerifyProxy {
 public:
  explicit VerifyProxy(VerifyProxyOptions options = {});
  ~VerifyProxy();  // stop()
  VerifyProxy(const VerifyProxy&) = delete;
  VerifyProxy& operator=(const VerifyProxy&) = delete;

  // Listens, opens the device, registers. Returns "" on success or a one-line error.
  std::string start();
  void stop();
  uint16_t portV4() const { return portV4_; }
  uint16_t portV6() const { return portV6_; }
  VerifyProxyStats stats() const;

 private:
  struct Upstream {
    int fd = -1;
    std::string original;  // original destination as text
    uint32_t appPid = 0;
    uint32_t recordsSize = 0;
    double connectMs = 0;  // the upstream connect took this long
  };
  // An upstream connect on its way: what the outcome and the log line need.
  struct Attempt {
    uint64_t id = 0;
    uint32_t appPid = 0;
    uint32_t recordsSize = 0;
    std::string original;
    std::chrono::steady_clock::time_point started;
    uint64_t deadline = 0;  // VP_REQUEST.deadline
    bool handedOff = false;  // the upstream socket was offered to the application (no relay)
    // Hand-off in place: the socket is the application's own (the NEXT reply carried it).
    bool inPlace = false;
  };
  // An outcome a worker sends with its next NEXT (IOCTL_VP_OUTCOME_NEXT: one crossing).
  struct Deferred {
    bool pending = false;
    Attempt attempt;
    int err = 0;
    double ms = 0;
    int offerFd = -1;               // the upstream socket to offer with the outcome (hand-off)
    int closeAfter = -1;            // in place: this copy of the app's socket, closed once sent
    std::vector<uint8_t> records;   // its records
  };
  void workerLoop();
  void waiterLoop();
  // appSocket: the application's own socket that came with the request (>= 0: owned, for a
  // hand-off in place; closed when the request cannot use it).
  void handleRequest(const ::VP_REQUEST& request, int handle, const policy::Upstream& upstream,
                     Deferred* defer = nullptr, int appSocket = -1);
  // A socks5 / http upstream: connect and handshake on a thread of its own (bounded by the
  // request's deadline and upstreamTimeout), then the outcome.
  void startUpstream(const Attempt& a, const ::VP_REQUEST& request, const policy::Upstream& upstream);
  void connectInPlace(Attempt& a, const ::VP_REQUEST& request, int handle, Deferred* defer, int appSocket);
  void waitForConnect(const Attempt& a, int handle, int fd);  // the waiter takes fd's connect over
  bool offer(uint64_t id, int fd, const void* records, size_t size);
  void offerRefused(uint64_t id, int err);
  // Records the attempt's result, then sends its OUTCOME on handle, or leaves it in *defer for
  // the worker's next OUTCOME_NEXT.
  void finishAttempt(const Attempt& a, int handle, int fd, int err, Deferred* defer = nullptr);
  // After the driver took the outcome (outcomeErr 0: announce) or refused it (outcomeRejected).
  void outcomeDone(const Attempt& a, int err, double ms, int outcomeErr);
  void outcomeRejected(const Attempt& a, int err, int outcomeErr);  // cleans up, says why
  void handOffAnswered(const Deferred& d, int err);
  void announce(const Attempt& a, int err, double ms);  // the BLOCK / handed-off line
  void acceptLoop(int listenFd);
  void logLine(const std::string& line);

  VerifyProxyOptions options_;
  int listenV4_ = -1, listenV6_ = -1;
  uint16_t portV4_ = 0, portV6_ = 0;
  int handle_ = -1;  // the device handle the proxy registered with (also OUTCOME of the waiter)
  int epfd_ = -1;    // connect waiter: upstream sockets still connecting
  int wakefd_ = -1;  // eventfd: a new socket to wait for, or stop
  std::atomic<bool> stopping_{false};
  std::atomic<bool> combined_{true};  // the driver knows IOCTL_VP_OUTCOME_NEXT (until ENOTTY)
  std::atomic<bool> handOffWorks_{true};  // the engine takes hand-off offers (until EOPNOTSUPP)
  bool supervised_ = true;  // under a seccomp filter (set by start()): offers go before connect
  std::unique_ptr<Relay> relay_;
  mutable std::mutex mu_;  // guards waiting_, stats_, connecting_, channels_
  std::map<uint64_t, Upstream> waiting_;  // request id -> connected upstream, until accepted
  VerifyProxyStats stats_;
  struct Connecting {
    Attempt attempt;
    std::chrono::steady_clock::time_point deadline;
  };
  std::map<int, Connecting> connecting_;  // fd -> connect in progress (the waiter's)
  std::vector<control::ThreadConnection*> channels_;  // the workers' own connections (under mu_)
  std::vector<std::thread> loops_;
  std::unique_ptr<TaskPool> upstreamPool_;  // socks5 / http handshakes (threads kept, at most 64)
};

}  // namespace openwfp::proxy
