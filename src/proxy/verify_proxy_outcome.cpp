// proxy/verify_proxy_outcome.cpp - VerifyProxy: what happens to an attempt's result: the
// outcome sent to the driver (or deferred into the worker's next OUTCOME_NEXT), the driver's
// refusal, the hand-off answer, the lines the proxy logs for them.
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "openwfp/device.h"
#include "openwfp/verify_proxy_channel.h"
#include "proxy/verify_proxy.h"

namespace openwfp::proxy {

namespace {
double msSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// The application's own socket must not stay connected (or connecting) when its connect fails:
// connect(AF_UNSPEC) drops the connection (an RST, or the SYN abandoned) and leaves it unconnected.
void disconnectInPlace(int fd) {
  sockaddr unspec{};
  unspec.sa_family = AF_UNSPEC;
  (void)connect(fd, &unspec, sizeof unspec);
}
}  // namespace

// Records the outcome, tells the driver (which completes the app's connect), then logs: the
// log line of a PERMIT waits for the end of its relay.
void VerifyProxy::finishAttempt(const Attempt& attempt, int handle, int fd, int err, Deferred* defer) {
  const double ms = msSince(attempt.started);
  // In place: connected, the application's socket is the connection (the engine holds it and
  // sees it connected when the outcome comes); failed, it must not stay connecting. Connected
  // past the request's deadline, the driver has BLOCKed the connect (the engine dropped what it
  // saw then): this connect came after, so it is dropped here.
  Attempt a = attempt;
  if (a.inPlace && err == 0 && requestExpired(a.deadline, std::chrono::steady_clock::now())) err = ETIMEDOUT;
  a.handedOff = a.handedOff || (a.inPlace && err == 0);
  if (err != 0 && a.inPlace && fd >= 0) disconnectInPlace(fd);
  const bool deferred = defer != nullptr && combined_;
  int closeAfter = -1;
  if (err == 0 && a.handedOff) {
    // The engine keeps the socket for the application: this copy must not keep it open. With
    // the outcome deferred, it is closed once the outcome is on its way (one system call less
    // before the application's connect returns).
    if (deferred && a.inPlace) {
      closeAfter = fd;
    } else {
      close(fd);
    }
    std::lock_guard lk(mu_);
    ++stats_.upstreamOk;
  } else if (err == 0) {
    std::lock_guard lk(mu_);
    ++stats_.upstreamOk;
    waiting_[a.id] = Upstream{fd, a.original, a.appPid, a.recordsSize, ms};
  } else {
    if (fd >= 0) close(fd);
    std::lock_guard lk(mu_);
    ++stats_.upstreamFailed;
  }
  if (err == ETIMEDOUT && requestExpired(a.deadline, std::chrono::steady_clock::now())) {
    // Abandoned at the request's deadline: the driver BLOCKed it; no OUTCOME to send.
    {
      std::lock_guard lk(mu_);
      ++stats_.expired;
    }
    logLine("proxy: id=" + std::to_string(a.id) + " pid=" + std::to_string(a.appPid) + " upstream " + a.original +
            ": not connected by the request's deadline, abandoned (the driver blocked it)");
    return;
  }
  if (deferred) {
    *defer = Deferred{true, a, err, ms, -1, closeAfter, {}};
    return;
  }
  VP_OUTCOME outcome{a.id, err};
  size_t returned = 0;
  const int outcomeErr =
      openwfp_device_ioctl(handle, IOCTL_VP_OUTCOME, &outcome, sizeof outcome, nullptr, 0, &returned) == 0 ? 0 : errno;
  outcomeDone(a, err, ms, outcomeErr);
}

void VerifyProxy::outcomeDone(const Attempt& a, int err, double ms, int outcomeErr) {
  if (outcomeErr != 0) {
    outcomeRejected(a, err, outcomeErr);
    return;
  }
  announce(a, err, ms);
}

// The engine's answer to a hand-off offer made behind the connect (Deferred::offerFd): taken ->
// the proxy's copy is closed and nothing is relayed; refused -> the socket stays for the relay.
void VerifyProxy::handOffAnswered(const Deferred& d, int err) {
  if (err != 0) {
    offerRefused(d.attempt.id, err);
    return;
  }
  {
    std::lock_guard lk(mu_);
    auto it = waiting_.find(d.attempt.id);
    if (it != waiting_.end()) {
      close(it->second.fd);  // the engine keeps the socket for the application
      waiting_.erase(it);
    }
  }
  Attempt handed = d.attempt;
  handed.handedOff = true;
  announce(handed, 0, d.ms);
}

// An offer the engine did not take: the proxy relays that connection; when nothing behind the
// channel can hand sockets over, it stops offering (one line).
void VerifyProxy::offerRefused(uint64_t id, int err) {
  if (err == EOPNOTSUPP || err == ENOENT) {
    if (handOffWorks_.exchange(false))
      logLine("proxy: hand-off is not available here (SIO_OPENWFP_HAND_OFF_WITH_RECORDS: " +
              std::string(std::strerror(err)) + "): relaying instead");
    return;
  }
  logLine("proxy: id=" + std::to_string(id) + " hand-off refused (" + std::strerror(err) + "): relaying it");
}

void VerifyProxy::outcomeRejected(const Attempt& a, int err, int outcomeErr) {
  {
    std::lock_guard lk(mu_);
    auto it = waiting_.find(a.id);
    if (it != waiting_.end()) {
      close(it->second.fd);
      waiting_.erase(it);
    }
  }
  if (outcomeErr == ENOENT && requestExpired(a.deadline, std::chrono::steady_clock::now())) {
    std::lock_guard lk(mu_);
    ++stats_.expired;  // answered just after the driver's deadline: it BLOCKed the connect
    return;
  }
  if (!stopping_)
    logLine("proxy: id=" + std::to_string(a.id) + " pid=" + std::to_string(a.appPid) + " upstream " + a.original +
            ": " + (err == 0 ? "connected" : std::strerror(err)) + ", OUTCOME not accepted: " +
            std::strerror(outcomeErr));
}

void VerifyProxy::announce(const Attempt& a, int err, double ms) {
  // What carried the connection: the application's own socket (in place), or a socket of the
  // proxy's with the records (offered to the application, or relayed).
  char how[96];
  if (a.inPlace) {
    std::snprintf(how, sizeof how, "the application's own socket");
  } else {
    std::snprintf(how, sizeof how, "%s, %u bytes",
                  a.handedOff ? "SIO_OPENWFP_HAND_OFF_WITH_RECORDS" : "SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS",
                  a.recordsSize);
  }
  char line[320];
  if (err != 0) {
    std::snprintf(line, sizeof line, "proxy: id=%llu pid=%u upstream %s (%s): %s in %.2f ms -> BLOCK",
                  static_cast<unsigned long long>(a.id), a.appPid, a.original.c_str(), how, std::strerror(err), ms);
    logLine(line);
  } else if (a.handedOff) {
    {
      std::lock_guard lk(mu_);
      ++stats_.handedOff;
    }
    std::snprintf(line, sizeof line, "proxy: id=%llu pid=%u upstream %s (%s): connected in %.2f ms -> PERMIT; %s",
                  static_cast<unsigned long long>(a.id), a.appPid, a.original.c_str(), how, ms,
                  a.inPlace ? "connected in place, no relay" : "socket handed to the application");
    logLine(line);
  }
}

}  // namespace openwfp::proxy
