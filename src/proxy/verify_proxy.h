// proxy/verify_proxy.h - the user-mode half of the verify-before-accept flow (SPEC S10.2).
//
// Talks to the verify_proxy callout driver through its device (verify_proxy_channel.h):
//   1. REGISTER its listen ports; from then on the driver redirects TCP connects to it.
//   2. Keeps an IOCTL_VP_NEXT outstanding; each completion is a pended connect: original
//      destination + the connection's SIO-format redirect records.
//   3. For each: a new socket, SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS with those records (so the
//      redirector sees this connection as its own and does not redirect it again, S10.3),
//      connect to the original destination, report the outcome (IOCTL_VP_OUTCOME). The driver
//      then completes the application's connect: PERMIT -> it connects to us, BLOCK -> it is
//      refused at once and we never accept anything for it.
//   4. Accepts the application's connection, pairs it with the upstream socket by the redirect
//      context (SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT = VP_CONTEXT), relays with splice.
// One log line per connection (and per refused destination).
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

#include "proxy/relay.h"

namespace openwfp::proxy {

struct VerifyProxyOptions {
  std::string device = "\\\\.\\OpenwfpVerifyProxy";
  uint16_t listenPortV4 = 0;  // 0: ephemeral
  bool listenV6 = true;
  std::chrono::milliseconds upstreamTimeout{5000};
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
};

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
    std::chrono::steady_clock::time_point connectedAt;
  };
  void nextLoop();
  void acceptLoop(int listenFd);
  void handleRequest(const std::vector<uint8_t>& request);
  void logLine(const std::string& line);

  VerifyProxyOptions options_;
  int listenV4_ = -1, listenV6_ = -1;
  uint16_t portV4_ = 0, portV6_ = 0;
  int nextHandle_ = -1;     // device handle used for IOCTL_VP_NEXT
  int controlHandle_ = -1;  // device handle for REGISTER / OUTCOME
  std::atomic<bool> stopping_{false};
  std::unique_ptr<Relay> relay_;
  mutable std::mutex mu_;  // guards waiting_, stats_, activeWorkers_
  std::condition_variable idle_;          // activeWorkers_ reached 0
  std::map<uint64_t, Upstream> waiting_;  // request id -> connected upstream, until accepted
  VerifyProxyStats stats_;
  unsigned activeWorkers_ = 0;            // detached request handlers still running
  std::vector<std::thread> loops_;
};

}  // namespace openwfp::proxy
