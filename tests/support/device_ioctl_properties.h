// tests/support/device_ioctl_properties.h - the properties the verify_proxy driver
// (examples/verify_proxy) and the simulated I/O manager (src/km/device_io.cpp) must keep for any
// sequence of device I/O a process can send to \\.\OpenwfpVerifyProxy (S12.4, S10.1, S11.1):
// CreateFile (by openers the device's descriptor admits or not) / DeviceIoControl (any code, any
// input bytes and lengths, any output length, METHOD_BUFFERED semantics) / CloseHandle / an
// abandoned handle, interleaved with an application's connects that the driver pends. Written once, used by the libFuzzer target
// fuzz/device_ioctl_fuzz.cpp (which compiles the driver in) and by the replay test
// VerifyProxyIoctlFuzz.S12_4_DriverIoctlBuffersKeepTheirBounds (tests/proxy/), which loads
// drivers/verify_proxy.so.
//
// checkDriverIoctls returns an empty string when every property holds, else what failed first.
// Properties:
//  - every IRP is completed exactly once: synchronously when the driver's channel
//    (openwfp/verify_proxy_channel.h) says the request is answered at once, later for a NEXT
//    that waits for work (by a connect, a CloseHandle of its handle, or an abandoned handle);
//  - CreateFile succeeds exactly for the openers the driver's descriptor
//    "D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;RC)" grants something (km/sddl.h: the engine's uid or
//    root; inside a supervised tree only if RC is granted too), else ACCESS_DENIED (S14.6);
//  - the status of each request is the one a reference model of the channel gives (REGISTER:
//    input shorter than the two ports or port 0 -> INVALID_PARAMETER, a proxy registered on any
//    handle -> DEVICE_BUSY (S14.8), else success with pendTimeoutMs when the input holds it and
//    it is not 0, else VP_DEFAULT_PEND_TIMEOUT_MS; NEXT: output shorter than VP_REQUEST ->
//    BUFFER_TOO_SMALL; OUTCOME: input shorter than VP_OUTCOME -> INVALID_PARAMETER, an id not
//    handed out, already answered or whose connect passed its deadline -> NOT_FOUND; OUTCOME_NEXT:
//    the OUTCOME rules, output shorter than VP_REQUEST -> BUFFER_TOO_SMALL before anything is
//    applied, then the outcome applied and the request served as a NEXT; other codes
//    -> INVALID_DEVICE_REQUEST; lengths above km::device::kMaxBuffer -> INVALID_PARAMETER, then
//    CTL_CODE access bits beyond the handle's granted rights -> ACCESS_DENIED, then a closed
//    handle -> INVALID_HANDLE);
//  - IoStatus.Information never exceeds the output length, the bytes returned are exactly
//    Information (none on an error status), and a NEXT's VP_REQUEST names the connect it was for,
//    carries records that open and the deadline: the monotonic clock (100 ns) when the connect
//    was pended plus the registration's pend timeout;
//  - connects while no proxy is registered are refused (fail closed, S14.8), the proxy's own
//    pass; each pended connect ends as the proxy said (OUTCOME 0: redirected to the proxy's
//    port; otherwise, or when the proxy's handle closes, refused), or refused at its deadline
//    when no OUTCOME came in time (the model waits for that deadline before its next operation,
//    so that no operation races it);
//  - no verifier violation, and nothing reported as leaked when the driver unloads.
// Out-of-bounds reads or writes of the system buffer are found by ASan in the fuzz build.
//
// One rule is not written down (verify_proxy_channel.h is silent on it): an OUTCOME sent on a
// handle other than the registered one may either succeed (today) or fail with an error status;
// the model follows what the driver answered.
#pragma once

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "km/device_io.h"
#include "km/sddl.h"
#include "openwfp/host.h"
#include "openwfp/openwfp.h"
#include "openwfp/sim.h"
#include "openwfp/verify_proxy_channel.h"
#include "runtime/records_api.h"
#include "support/fuzz_input.h"
#include "verifier/verifier.h"

namespace openwfp::device_props {

using testing_support::FuzzInput;
using testing_support::putLe;
namespace kd = km::device;

inline constexpr uint64_t kProxyPid = 777;
inline constexpr uint64_t kAppPid = 4242;
inline constexpr uint64_t kOtherPid = 555;
inline constexpr uint16_t kProxyPortV4 = 8080;
inline constexpr uint16_t kProxyPortV6 = 8443;
inline constexpr size_t kMaxOps = 48;
inline constexpr size_t kMaxHandles = 4;
inline constexpr size_t kMaxConnects = 12;

inline constexpr int32_t kStatusPending = 0x103;
inline constexpr int32_t kStatusBufferTooSmall = static_cast<int32_t>(0xC0000023u);
inline constexpr int32_t kStatusNotFound = static_cast<int32_t>(0xC0000225u);
inline constexpr int32_t kStatusDeviceBusy = static_cast<int32_t>(0x80000011u);
inline constexpr int32_t kStatusAccessDenied = static_cast<int32_t>(0xC0000022u);
inline constexpr uint32_t kOtherUid = 1001;
// A pended connect whose deadline is this close (100 ns units, 1 s) is waited for before the
// next operation: no operation may race the driver's expiry.
inline constexpr int64_t kSettleSlack = 10'000'000;

// KeQueryInterruptTime's clock as verify_proxy_channel.h states it: CLOCK_MONOTONIC, 100 ns.
inline int64_t interruptTime() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 10'000'000 + ts.tv_nsec / 100;
}

inline bool ntError(int32_t s) { return (static_cast<uint32_t>(s) >> 30) == 3; }

// Operations (first byte of each, modulo kOps).
enum Op : uint8_t { kOpen, kClose, kAbandon, kIoctl, kIoctl2, kIoctl3, kConnect, kOps };

// One IRP sent by the sequence, and what the model expects of it.
struct Irp {
  uint32_t code = 0;
  size_t outLen = 0;
  size_t handle = 0;
  std::atomic<int> completions{0};
  kd::IoResult result;
};

struct Connect {
  std::optional<sim::PendingConnect> pending;  // set once the connect was made
  bool v6 = false;
  uint16_t port = 0;  // of the original destination
  enum class Want { Direct, Pended, Redirected, Refused } want = Want::Direct;
  uint16_t redirectPort = 0;  // the registration's port when it pended
  uint64_t id = 0;            // the driver's request id, once a NEXT carried it
  uint32_t timeoutMs = 0;     // the registration's pend timeout when it pended
  int64_t tLo = 0, tHi = 0;   // interruptTime() before and after the connect was made
  bool expired = false;       // refused by the driver at its deadline
  std::optional<size_t> racingNext;  // a waiting NEXT it went to, unless its deadline came first
  int64_t earliestDeadline() const { return tLo + int64_t{timeoutMs} * 10'000; }
  int64_t latestDeadline() const { return tHi + int64_t{timeoutMs} * 10'000; }
};

struct Handle {
  std::shared_ptr<kd::File> file;
  uint64_t pid = 0;
  bool open = false;
  uint32_t granted = 0;  // km::security rights the descriptor gave the opener
};

class Model {
 public:
  std::vector<Handle> handles;
  std::vector<std::unique_ptr<Irp>> irps;
  std::vector<std::unique_ptr<Connect>> connects;
  std::deque<size_t> waitingNexts;   // irps index, oldest first (the driver's gWaitingIrps)
  std::deque<size_t> undelivered;    // connects index, pended and not yet handed out
  std::vector<size_t> delivered;     // connects index, handed out and not yet answered
  std::optional<size_t> registered;  // the handle the proxy registered with
  uint64_t registeredPid = 0;
  uint16_t portV4 = 0, portV6 = 0;
  uint32_t pendTimeoutMs = 0;
  std::optional<size_t> racing;      // connects index: pended with a NEXT waiting, near its deadline
};

inline std::string hex32(uint32_t v) {
  char b[16];
  std::snprintf(b, sizeof b, "0x%08X", v);
  return b;
}

// The done callback of one IRP: counts completions.
inline kd::IoDone doneFor(Irp& irp) {
  return [&irp](kd::IoResult r) {
    irp.result = std::move(r);
    irp.completions.fetch_add(1);
  };
}

// Checks the shape of a completed IRP's result (bounds of Information and output).
inline std::string checkResultBounds(const Irp& irp, const std::string& where) {
  const kd::IoResult& r = irp.result;
  if (r.information > irp.outLen) {
    return where + "Information " + std::to_string(r.information) + " exceeds the output length " +
           std::to_string(irp.outLen);
  }
  if (ntError(r.status)) {
    if (r.information != 0 || !r.output.empty()) return where + "an error status returned bytes";
  } else if (r.output.size() != r.information) {
    return where + "returned " + std::to_string(r.output.size()) + " bytes, Information says " +
           std::to_string(r.information);
  }
  return {};
}

// A NEXT completed with a request for connect c: its fields name c, its records open.
inline std::string checkRequest(const Irp& irp, const Connect& c, const std::string& where) {
  if (irp.result.status != 0 || irp.result.output.size() != sizeof(VP_REQUEST)) {
    return where + "NEXT completed with status " + hex32(static_cast<uint32_t>(irp.result.status)) + " and " +
           std::to_string(irp.result.output.size()) + " bytes, a pended connect was waiting";
  }
  VP_REQUEST req;
  std::memcpy(&req, irp.result.output.data(), sizeof req);
  if (req.appPid != kAppPid) return where + "the request names pid " + std::to_string(req.appPid);
  if (req.originalDestination.family != (c.v6 ? 6 : 4) || req.originalDestination.port != c.port) {
    return where + "the request's original destination is not the connect's";
  }
  if (req.recordsSize == 0 || req.recordsSize > VP_MAX_RECORDS) {
    return where + "records size " + std::to_string(req.recordsSize);
  }
  if (!runtime::open(std::span<const uint8_t>(req.records, req.recordsSize)).history) {
    return where + "the request's records do not open";
  }
  const auto deadline = static_cast<int64_t>(req.deadline);
  if (deadline < c.earliestDeadline() || deadline > c.latestDeadline()) {
    return where + "the request's deadline " + std::to_string(deadline) + " is not the pend time plus " +
           std::to_string(c.timeoutMs) + " ms (" + std::to_string(c.earliestDeadline()) + ".." +
           std::to_string(c.latestDeadline()) + ")";
  }
  return {};
}

class Runner {
 public:
  explicit Runner(sim::Stack& stack) : stack_(stack) {}

  // Runs the operations of `input`; empty string when every property held.
  std::string run(FuzzInput& in) {
    auto& proxy = stack_.process(kProxyPid, "/usr/bin/proxy", 0);
    (void)stack_.process(kOtherPid, "/usr/bin/other", 1001);
    auto& server = stack_.remoteHost("192.0.2.80");
    const int serverListener = server.socket(IpVersion::V4, Protocol::Tcp);
    if (server.bind(serverListener, *Endpoint::parse("192.0.2.80:80")) != 0 || server.listen(serverListener) != 0) {
      return "setup: the server cannot listen";
    }
    const int l4 = proxy.socket(IpVersion::V4, Protocol::Tcp);
    const int l6 = proxy.socket(IpVersion::V6, Protocol::Tcp);
    if (proxy.bind(l4, *Endpoint::parse("127.0.0.1:8080")) != 0 || proxy.listen(l4) != 0 ||
        proxy.bind(l6, *Endpoint::parse("[::1]:8443")) != 0 || proxy.listen(l6) != 0) {
      return "setup: the proxy cannot listen";
    }
    std::string failure;
    for (size_t n = 0; n < kMaxOps && !in.empty(); ++n) {
      const std::string where = "op " + std::to_string(n) + ": ";
      if (failure = settle(where); !failure.empty()) break;
      switch (static_cast<Op>(in.u8() % kOps)) {
        case kOpen:
          failure = open(in, where);
          break;
        case kClose:
        case kAbandon: {
          const bool abandon = in.u8() & 1;
          failure = close(in.u8(), abandon, where);
          break;
        }
        case kIoctl:
        case kIoctl2:
        case kIoctl3:
          failure = ioctl(in, where);
          break;
        case kConnect:
          failure = connect(in, where);
          break;
        case kOps:
          break;
      }
      if (failure.empty()) failure = checkCompletions(where);
      if (!failure.empty()) break;
    }
    // The I/O manager closes what the process left open (a driver unloads only then); after a
    // failure too, so that no connect stays pended.
    for (size_t h = 0; h < m_.handles.size(); ++h) {
      if (!m_.handles[h].open) continue;
      std::string f = failure.empty() ? settle("final close: ") : std::string();
      if (f.empty()) f = close(static_cast<uint8_t>(h), false, "final close: ");
      if (f.empty()) f = checkCompletions("final close: ");
      if (failure.empty()) failure = f;
    }
    if (!failure.empty()) {
      for (const auto& c : m_.connects) if (c->pending) (void)c->pending->waitFor(std::chrono::seconds(5));
      return failure;
    }
    if (std::string f = settle("end: "); !f.empty()) return f;
    return checkConnects();
  }

 private:
  // The pended connects whose deadline is near or past: waits until it has surely passed and
  // for the driver to refuse them; a NEXT a racing connect went to either carries it or waits on.
  std::string settle(const std::string& where) {
    const int64_t now = interruptTime();
    std::vector<size_t> due;
    for (size_t c : m_.undelivered) if (m_.connects[c]->earliestDeadline() <= now + kSettleSlack) due.push_back(c);
    for (size_t c : m_.delivered) if (m_.connects[c]->earliestDeadline() <= now + kSettleSlack) due.push_back(c);
    if (m_.racing) due.push_back(*m_.racing);
    for (size_t c : due) {
      Connect& conn = *m_.connects[c];
      const int64_t wait = conn.latestDeadline() - interruptTime();
      if (wait > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(wait * 100));
      if (!conn.pending->waitFor(std::chrono::seconds(5))) {
        return where + "connect " + std::to_string(c) + " still pended 5 s after its deadline (pendTimeoutMs " +
               std::to_string(conn.timeoutMs) + ")";
      }
      conn.want = Connect::Want::Refused;
      conn.expired = true;
      m_.undelivered.erase(std::remove(m_.undelivered.begin(), m_.undelivered.end(), c), m_.undelivered.end());
      m_.delivered.erase(std::remove(m_.delivered.begin(), m_.delivered.end(), c), m_.delivered.end());
    }
    if (m_.racing) {
      const size_t c = *m_.racing;
      const size_t next = *m_.connects[c]->racingNext;
      m_.racing.reset();
      Irp& irp = *m_.irps[next];
      if (irp.completions.load() == 0) {
        m_.waitingNexts.push_front(next);  // the deadline came before the delivery
      } else {
        const std::string at = where + "NEXT " + std::to_string(next) + " (connect " + std::to_string(c) + "): ";
        if (irp.completions.load() != 1) return at + "completed more than once";
        if (std::string f = checkResultBounds(irp, at); !f.empty()) return f;
        if (std::string f = noteDelivery(next, c, at); !f.empty()) return f;
        checked_.push_back(next);
      }
    }
    return {};
  }

  // sel % 3: the pid; (sel >> 2) % 6: the opener: 0-1 the engine process's own open, 2 the
  // engine's uid inside a supervised tree, 3 root, 4 another uid, 5 another uid inside a tree.
  std::string open(FuzzInput& in, const std::string& where) {
    static constexpr uint64_t kPids[] = {kProxyPid, kAppPid, kOtherPid};
    const uint8_t sel = in.u8();
    const uint64_t pid = kPids[sel % 3];
    const unsigned kind = (sel >> 2) % 6;
    if (m_.handles.size() >= kMaxHandles) return {};
    namespace sec = km::security;
    // The driver's descriptor D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GRGX;;;RC): everything to the engine's
    // uid (SY) and root (BA); a tree process gets what its uid gets AND what RC gets (read and
    // execute: no FILE_WRITE_ACCESS IOCTL such as IOCTL_VP_SET_POLICY).
    const bool engineUid = kind <= 2;
    const bool root = kind == 3;
    const uint32_t want = kind == 2 ? (sec::kRead | sec::kExecute) : engineUid || root ? sec::kAll : 0;
    int32_t status = -1;
    std::shared_ptr<kd::File> file;
    if (kind <= 1) {
      file = kd::open(VP_USER_PATH, pid, status);
    } else {
      const sec::Opener opener{pid, root ? 0u : engineUid ? static_cast<uint32_t>(::geteuid()) : kOtherUid,
                               root ? 0u : kOtherUid, kind == 2 || kind == 5, engineUid};
      file = kd::open(VP_USER_PATH, opener, status);
    }
    if (want == 0) {
      if (file || status != kStatusAccessDenied) {
        return where + "CreateFile by an opener the descriptor does not name gave " + hex32(static_cast<uint32_t>(status));
      }
      return {};
    }
    if (!file || status != 0) return where + "CreateFile failed with " + hex32(static_cast<uint32_t>(status));
    m_.handles.push_back({std::move(file), pid, true, want});
    return {};
  }

  std::string close(uint8_t which, bool abandon, const std::string& where) {
    if (m_.handles.empty()) return {};
    const size_t h = which % m_.handles.size();
    Handle& handle = m_.handles[h];
    const int32_t st = abandon ? kd::closeAbandoned(handle.file, handle.pid) : kd::close(handle.file, handle.pid);
    if (!handle.open) {
      if (st != kd::kStatusInvalidHandle) return where + "closing a closed handle gave " + hex32(static_cast<uint32_t>(st));
      return {};
    }
    if (st != kd::kStatusSuccess) return where + "CloseHandle gave " + hex32(static_cast<uint32_t>(st));
    handle.open = false;
    // Its waiting NEXTs are cancelled.
    for (auto it = m_.waitingNexts.begin(); it != m_.waitingNexts.end();) {
      if (m_.irps[*it]->handle == h) {
        expectStatus_[*it] = kd::kStatusCancelled;
        it = m_.waitingNexts.erase(it);
      } else {
        ++it;
      }
    }
    if (m_.registered == h) {  // the proxy went away: every connect it holds is refused
      m_.registered.reset();
      for (size_t c : m_.undelivered) m_.connects[c]->want = Connect::Want::Refused;
      for (size_t c : m_.delivered) m_.connects[c]->want = Connect::Want::Refused;
      m_.undelivered.clear();
      m_.delivered.clear();
    }
    return {};
  }

  // Input bytes of a request: structured for the codes the driver knows, raw otherwise.
  std::vector<uint8_t> inputFor(uint32_t code, FuzzInput& in, uint8_t lenSel) {
    if (lenSel & 0x80) {
      // A raw length, sometimes beyond the limit (the I/O manager refuses it before dispatch).
      const uint32_t raw = in.u32();
      const size_t len = (lenSel & 0x40) ? std::min<size_t>(raw, kd::kMaxBuffer + 1) : raw % 4096;
      std::vector<uint8_t> b(len, 0);
      const auto head = in.bytes(std::min<size_t>(len, 32));
      std::copy(head.begin(), head.end(), b.begin());
      return b;
    }
    std::vector<uint8_t> b;
    if (code == IOCTL_VP_REGISTER) {
      // Lengths around the two ports (4) and the whole VP_REGISTER (8).
      static constexpr size_t kLens[] = {0, 3, 4, 4, 7, 8, 8, 11};
      putLe(b, (lenSel & 0x20) ? kProxyPortV4 : in.u16(), 2);
      putLe(b, (lenSel & 0x10) ? kProxyPortV6 : in.u16(), 2);
      const uint8_t t = in.u8();  // pendTimeoutMs: 0 (default), 1..30 ms, a minute or more, any
      putLe(b, t % 4 == 0 ? 0 : t % 4 == 1 ? 1 + (t >> 2) % 30 : t % 4 == 2 ? 60000 + in.u16() : in.u32(), 4);
      b.resize(kLens[lenSel % 8], 0);
    } else if (code == IOCTL_VP_OUTCOME || code == IOCTL_VP_OUTCOME_NEXT) {
      uint64_t id = in.u64();
      if ((lenSel & 0x20) && !m_.delivered.empty()) id = m_.connects[m_.delivered[id % m_.delivered.size()]]->id;
      else if ((lenSel & 0x10) && !m_.connects.empty()) id = m_.connects[id % m_.connects.size()]->id;
      putLe(b, id, 8);
      putLe(b, (lenSel & 0x08) ? 0 : in.u32(), 4);
      putLe(b, 0, 4);
      b.resize(12 + lenSel % 8, 0);  // 12..19 bytes: around sizeof(VP_OUTCOME)
    } else {
      b = in.bytes(lenSel % 64);
    }
    return b;
  }

  static size_t outLenFor(FuzzInput& in) {
    switch (in.u8() % 8) {
      case 0:
        return 0;
      case 1:
        return sizeof(VP_REQUEST);
      case 2:
        return sizeof(VP_REQUEST) - 1;
      case 3:
        return sizeof(VP_REQUEST) + in.u8();
      case 4:
        return in.u16();
      case 5:
        return kd::kMaxBuffer;
      case 6:
        return kd::kMaxBuffer + 1;
      default:
        return in.u32();
    }
  }

  static uint32_t codeFor(FuzzInput& in) {
    const uint8_t sel = in.u8();
    const uint32_t known[] = {IOCTL_VP_REGISTER, IOCTL_VP_NEXT, IOCTL_VP_OUTCOME, IOCTL_VP_OUTCOME_NEXT};
    switch (sel % 6) {
      case 0:
      case 1:
      case 2:
        return known[sel % 4];
      case 3:  // a known code with another transfer method or access
        return known[(sel >> 3) % 4] ^ (in.u8() & 0xC003u);
      case 4:
        return VP_CTL(in.u8() % 8);
      default:
        return in.u32();
    }
  }

  std::string ioctl(FuzzInput& in, const std::string& where) {
    if (m_.handles.empty()) return {};
    const size_t h = in.u8() % m_.handles.size();
    const uint32_t code = codeFor(in);
    const std::vector<uint8_t> input = inputFor(code, in, in.u8());
    const size_t outLen = outLenFor(in);
    const size_t index = m_.irps.size();
    m_.irps.push_back(std::make_unique<Irp>());
    Irp& irp = *m_.irps.back();
    irp.code = code;
    irp.outLen = outLen;
    irp.handle = h;
    const Handle& handle = m_.handles[h];
    const std::string at = where + "ioctl " + hex32(code) + " in " + std::to_string(input.size()) + " out " +
                           std::to_string(outLen) + ": ";

    // What the model expects: nullopt = the driver keeps the IRP (NEXT waiting for work).
    std::optional<int32_t> want;
    std::function<void(int32_t)> apply;  // model update once the status is known
    bool lenient = false;                // the status may be success or an error (see the header)
    if (input.size() > kd::kMaxBuffer || outLen > kd::kMaxBuffer) {  // checked first (km/device_io.cpp)
      want = kd::kStatusInvalidParameter;
    } else if (((code >> 14) & 3u & ~handle.granted) != 0) {  // FILE_READ_ACCESS / FILE_WRITE_ACCESS
      want = kStatusAccessDenied;
    } else if (!handle.open) {
      want = kd::kStatusInvalidHandle;
    } else if (code == IOCTL_VP_REGISTER) {
      uint16_t p4 = 0, p6 = 0;
      uint32_t timeout = 0;
      if (input.size() >= 4) {
        p4 = static_cast<uint16_t>(input[0] | input[1] << 8);
        p6 = static_cast<uint16_t>(input[2] | input[3] << 8);
      }
      if (input.size() >= 8) std::memcpy(&timeout, input.data() + 4, 4);  // pendTimeoutMs is optional
      if (timeout == 0) timeout = VP_DEFAULT_PEND_TIMEOUT_MS;
      if (input.size() < 4 || p4 == 0) {
        want = kd::kStatusInvalidParameter;
      } else if (m_.registered) {
        want = kStatusDeviceBusy;  // one proxy at a time: the first keeps its registration (S14.8)
      } else {
        want = kd::kStatusSuccess;
        apply = [this, h, p4, p6, timeout](int32_t st) {
          if (st != kd::kStatusSuccess) return;
          m_.registered = h;
          m_.registeredPid = m_.handles[h].pid;
          m_.portV4 = p4;
          m_.portV6 = p6;
          m_.pendTimeoutMs = timeout;
        };
      }
    } else if (code == IOCTL_VP_NEXT) {
      if (outLen < sizeof(VP_REQUEST)) {
        want = kStatusBufferTooSmall;
      } else if (!m_.undelivered.empty()) {
        const size_t c = m_.undelivered.front();
        want = kd::kStatusSuccess;
        apply = [this, c, index](int32_t st) {
          if (st != kd::kStatusSuccess) return;
          m_.undelivered.pop_front();
          m_.delivered.push_back(c);
          deliveredTo_[index] = c;
        };
      } else {
        m_.waitingNexts.push_back(index);
      }
    } else if (code == IOCTL_VP_OUTCOME) {
      if (input.size() < sizeof(VP_OUTCOME)) {
        want = kd::kStatusInvalidParameter;
      } else {
        uint64_t id = 0;
        int32_t error = 0;
        std::memcpy(&id, input.data(), 8);
        std::memcpy(&error, input.data() + 8, 4);
        auto it = std::find_if(m_.delivered.begin(), m_.delivered.end(),
                               [&](size_t c) { return m_.connects[c]->id == id; });
        if (it == m_.delivered.end()) {
          want = kStatusNotFound;
        } else {
          want = kd::kStatusSuccess;
          lenient = m_.registered != h;
          const size_t c = *it;
          apply = [this, c, error](int32_t st) {
            if (st != kd::kStatusSuccess) return;
            m_.delivered.erase(std::find(m_.delivered.begin(), m_.delivered.end(), c));
            m_.connects[c]->want = error == 0 ? Connect::Want::Redirected : Connect::Want::Refused;
          };
        }
      }
    } else if (code == IOCTL_VP_OUTCOME_NEXT) {
      uint64_t id = 0;
      int32_t error = 0;
      if (input.size() >= sizeof(VP_OUTCOME)) {
        std::memcpy(&id, input.data(), 8);
        std::memcpy(&error, input.data() + 8, 4);
      }
      auto it = std::find_if(m_.delivered.begin(), m_.delivered.end(),
                             [&](size_t c) { return m_.connects[c]->id == id; });
      if (input.size() < sizeof(VP_OUTCOME)) {
        want = kd::kStatusInvalidParameter;
      } else if (outLen < sizeof(VP_REQUEST)) {
        want = kStatusBufferTooSmall;  // refused before the outcome is applied
      } else if (it == m_.delivered.end()) {
        want = kStatusNotFound;
      } else {
        const size_t c = *it;
        // The driver applies the outcome at once (whichever handle sent it), then serves the
        // request as a NEXT: completed with the oldest connect not handed out yet, or waiting.
        m_.delivered.erase(it);
        m_.connects[c]->want = error == 0 ? Connect::Want::Redirected : Connect::Want::Refused;
        if (!m_.undelivered.empty()) {
          const size_t next = m_.undelivered.front();
          want = kd::kStatusSuccess;
          apply = [this, next, index](int32_t st) {
            if (st != kd::kStatusSuccess) return;
            m_.undelivered.pop_front();
            m_.delivered.push_back(next);
            deliveredTo_[index] = next;
          };
        } else {
          m_.waitingNexts.push_back(index);
        }
      }
    } else {
      want = kd::kStatusInvalidDeviceRequest;
    }

    kd::ioctl(handle.file, code, input, outLen, handle.pid, doneFor(irp));
    if (!want) {
      if (irp.completions.load() != 0) return at + "a NEXT with no work was completed at once";
      return {};
    }
    if (irp.completions.load() != 1) {
      return at + "completed " + std::to_string(irp.completions.load()) + " times, the channel answers it at once";
    }
    const int32_t got = irp.result.status;
    if (got != *want && !(lenient && ntError(got))) {
      return at + "status " + hex32(static_cast<uint32_t>(got)) + ", the channel says " + hex32(static_cast<uint32_t>(*want));
    }
    if (apply) apply(got);
    checked_.push_back(index);
    if (auto c = deliveredTo_.find(index); c != deliveredTo_.end()) {
      if (std::string f = noteDelivery(index, c->second, at); !f.empty()) return f;
    }
    return checkResultBounds(irp, at);
  }

  // A NEXT carried connect c: the request must name it; the connect now has the driver's id.
  std::string noteDelivery(size_t irpIndex, size_t c, const std::string& where) {
    const Irp& irp = *m_.irps[irpIndex];
    if (std::string f = checkRequest(irp, *m_.connects[c], where); !f.empty()) return f;
    VP_REQUEST req;
    std::memcpy(&req, irp.result.output.data(), sizeof req);
    for (const auto& other : m_.connects) {
      if (other->id == req.id && req.id != 0) return where + "request id " + std::to_string(req.id) + " handed out twice";
    }
    m_.connects[c]->id = req.id;
    return {};
  }

  std::string connect(FuzzInput& in, const std::string& where) {
    if (m_.connects.size() >= kMaxConnects) return {};
    const uint8_t sel = in.u8();
    auto c = std::make_unique<Connect>();
    c->v6 = (sel & 3) == 3;
    c->port = (sel & 3) == 1 ? 81 : 80;
    auto& app = stack_.process(kAppPid, "/usr/bin/curl", 1000);
    const int s = app.socket(c->v6 ? IpVersion::V6 : IpVersion::V4, Protocol::Tcp);
    const bool pends = m_.registered.has_value() && m_.registeredPid != kAppPid;
    if (!m_.registered) c->want = Connect::Want::Refused;  // no proxy: fail closed (S14.8)
    if (pends) {
      c->want = Connect::Want::Pended;
      c->redirectPort = c->v6 ? m_.portV6 : m_.portV4;
      c->timeoutMs = m_.pendTimeoutMs;
    }
    const size_t index = m_.connects.size();
    m_.connects.push_back(std::move(c));
    Connect& conn = *m_.connects.back();
    const std::string dest = conn.v6 ? "[2001:db8::80]:" + std::to_string(conn.port)
                                     : "192.0.2.80:" + std::to_string(conn.port);
    conn.tLo = interruptTime();
    conn.pending = app.connectAsync(s, *Endpoint::parse(dest));
    conn.tHi = interruptTime();
    // Near its deadline the driver may refuse it before anything else happens to it.
    const bool nearDeadline = pends && conn.earliestDeadline() <= interruptTime() + kSettleSlack;
    if (pends) {
      if (!m_.waitingNexts.empty()) {
        const size_t next = m_.waitingNexts.front();
        m_.waitingNexts.pop_front();
        if (nearDeadline) {
          conn.racingNext = next;
          m_.racing = index;
        } else {
          m_.delivered.push_back(index);
          expectStatus_[next] = kd::kStatusSuccess;
          deliveredTo_[next] = index;
        }
      } else {
        m_.undelivered.push_back(index);
      }
    }
    if (pends && !nearDeadline && conn.pending->ready()) return where + "a connect the driver pends completed at once";
    return {};
  }

  // Every IRP the model says completed has completed exactly once, with the status it says;
  // the others not at all.
  std::string checkCompletions(const std::string& where) {
    for (auto it = expectStatus_.begin(); it != expectStatus_.end();) {
      const size_t i = it->first;
      Irp& irp = *m_.irps[i];
      const std::string at = where + "IRP " + std::to_string(i) + " (" + hex32(irp.code) + "): ";
      if (irp.completions.load() != 1) {
        return at + "completed " + std::to_string(irp.completions.load()) + " times, expected once by now";
      }
      if (irp.result.status != it->second) {
        return at + "status " + hex32(static_cast<uint32_t>(irp.result.status)) + ", expected " +
               hex32(static_cast<uint32_t>(it->second));
      }
      if (std::string f = checkResultBounds(irp, at); !f.empty()) return f;
      if (auto c = deliveredTo_.find(i); c != deliveredTo_.end()) {
        if (std::string f = noteDelivery(i, c->second, at); !f.empty()) return f;
      }
      checked_.push_back(i);
      it = expectStatus_.erase(it);
    }
    for (size_t i : checked_) {
      if (m_.irps[i]->completions.load() != 1) return where + "IRP " + std::to_string(i) + " completed again";
    }
    for (size_t i : m_.waitingNexts) {
      if (m_.irps[i]->completions.load() != 0) return where + "a waiting NEXT (IRP " + std::to_string(i) + ") completed";
    }
    return {};
  }

  std::string checkConnects() {
    if (!m_.waitingNexts.empty() || !m_.undelivered.empty() || !m_.delivered.empty() || m_.racing) {
      return "model: work left after every handle closed";
    }
    for (size_t i = 0; i < m_.connects.size(); ++i) {
      const Connect& c = *m_.connects[i];
      const std::string at = "connect " + std::to_string(i) + (c.v6 ? " (v6)" : " (v4)") + ": ";
      auto r = c.pending->waitFor(std::chrono::seconds(5));
      if (!r) return at + "not completed 5 s after the proxy's handle closed";
      switch (c.want) {
        case Connect::Want::Pended:
          return at + "model: still pended";
        case Connect::Want::Direct:
          if (r->redirected) return at + "redirected without a proxy";
          if (!c.v6 && c.port == 80 && r->error != 0) return at + "the direct connect failed: " + r->reason;
          if ((c.v6 || c.port != 80) && r->error == 0) return at + "connected where nobody listens";
          break;
        case Connect::Want::Redirected: {
          const bool listening = c.redirectPort == (c.v6 ? kProxyPortV6 : kProxyPortV4);
          if (listening && (r->error != 0 || !r->redirected)) return at + "OUTCOME 0 did not connect it to the proxy";
          if (!listening && r->error == 0) return at + "connected to a port nobody listens on";
          break;
        }
        case Connect::Want::Refused:
          if (r->error == 0) {
            return at + (c.expired ? "connected although its deadline passed without an OUTCOME"
                                   : "connected although no proxy was registered, the proxy refused it or went away");
          }
          break;
      }
    }
    return {};
  }

  sim::Stack& stack_;
  Model m_;
  std::map<size_t, int32_t> expectStatus_;  // IRPs that must have completed by the next check
  std::map<size_t, size_t> deliveredTo_;    // NEXT IRP -> the connect it carries
  std::vector<size_t> checked_;             // IRPs whose one completion was checked
};

// The whole property: a fresh runtime, the driver loaded with `load`, the input's operations,
// every handle closed, the driver unloaded; then leaks and verifier violations.
inline std::string checkDriverIoctls(std::span<const uint8_t> data,
                                     const std::function<host::LoadResult(host::DriverHost&)>& load) {
  Runtime::reset();
  std::string failure;
  std::vector<host::Leak> leaks;
  {
    host::DriverHost host;
    const host::LoadResult loaded = load(host);
    if (!loaded) return "the driver did not load: " + loaded.error;
    {
      sim::Stack stack;
      FuzzInput in(data);
      Runner runner(stack);
      failure = runner.run(in);
    }
    leaks = host.unloadAll();
  }
  if (!failure.empty()) return failure;
  for (const auto& l : leaks) return "leak at unload: " + l.what;
  for (const auto& v : Runtime::current().verifier().violations()) {
    // Known engine false positive (as in tests/proxy/device_verify_proxy_test.cpp): a classify
    // completed BLOCK ends its connection inside FwpsCompleteClassify0, before the driver can
    // release the handle in the documented order Complete -> Release.
    if (v.code == verifier::Code::ClassifyHandleNotReleased &&
        v.message.find("still held when its connection ended") != std::string::npos) {
      continue;
    }
    return "verifier: " + v.message;
  }
  return {};
}

// ---- seeds ----

// Builders for meaningful inputs (the seed corpus, fuzz/seeds/device_ioctl/, and the replay).
// An ioctl op reads: handle, code selector [code bytes], length selector [input bytes], output
// selector [output bytes].
struct SeedBuilder {
  std::vector<uint8_t> b;
  SeedBuilder& open(uint8_t pidSel) { return put({kOpen, pidSel}); }
  SeedBuilder& close(uint8_t h, bool abandon = false) { return put({kClose, static_cast<uint8_t>(abandon), h}); }
  // REGISTER with the proxy's ports and `len` bytes (0, 3, 4: the ports, 7, 8: the whole
  // VP_REGISTER, 11); timeoutSel 0: pendTimeoutMs 0, 1 + 4k: k + 1 ms, 2: a minute.
  SeedBuilder& registerProxy(uint8_t h, uint8_t len = 4, uint8_t timeoutSel = 0) {
    static constexpr uint8_t kLens[] = {0, 3, 4, 4, 7, 8, 8, 11};
    const auto at = std::find(std::begin(kLens), std::end(kLens), len);
    put({kIoctl, h, 0, static_cast<uint8_t>(0x30 | (at - std::begin(kLens))), timeoutSel});
    if (timeoutSel % 4 == 2) putLe(b, 0, 2);
    if (timeoutSel % 4 == 3) putLe(b, 0, 4);
    return put({0});
  }
  // OUTCOME 0 for the id the driver gave connect number `c` (0 when none).
  SeedBuilder& outcomeFor(uint8_t h, uint8_t c) {
    put({kIoctl, h, 2, static_cast<uint8_t>(0x10 | 0x08 | 4)});
    putLe(b, c, 8);
    return put({0});
  }
  // NEXT; outSel 1: sizeof(VP_REQUEST), 2: one byte short, 5: kMaxBuffer, 6: kMaxBuffer + 1.
  SeedBuilder& next(uint8_t h, uint8_t outSel = 1) { return put({kIoctl, h, 1, 0, outSel}); }
  // OUTCOME for the oldest id handed out, error 0 or 111, `len` bytes (16: the whole VP_OUTCOME).
  SeedBuilder& outcome(uint8_t h, bool ok, uint8_t len = 16) {
    put({kIoctl, h, 2, static_cast<uint8_t>(0x20 | (ok ? 0x08 : 0) | (len - 12))});
    putLe(b, 0, 8);
    if (!ok) putLe(b, 111, 4);
    return put({0});
  }
  // A request with code `code`, `len` raw input bytes (0xAB) and output selector outSel.
  SeedBuilder& rawIoctl(uint8_t h, uint32_t code, uint8_t len, uint8_t outSel) {
    put({kIoctl, h, 5});
    putLe(b, code, 4);
    put({len});
    for (uint8_t i = 0; i < len; ++i) b.push_back(0xAB);
    return put({outSel});
  }
  // An input length of kMaxBuffer + 1 (refused before dispatch).
  SeedBuilder& oversizedInput(uint8_t h) {
    put({kIoctl, h, 0, 0xC0});
    putLe(b, kd::kMaxBuffer + 1, 4);
    for (int i = 0; i < 32; ++i) b.push_back(0x11);
    return put({0});
  }
  // sel 0: v4 port 80 (listening), 1: v4 port 81 (refused), 3: v6.
  SeedBuilder& connect(uint8_t sel = 0) { return put({kConnect, sel}); }
  SeedBuilder& put(std::initializer_list<uint8_t> bytes) {
    b.insert(b.end(), bytes);
    return *this;
  }
};

inline std::vector<std::pair<std::string, std::vector<uint8_t>>> seeds() {
  using S = SeedBuilder;
  std::vector<std::pair<std::string, std::vector<uint8_t>>> s;
  s.emplace_back("verify_then_permit", S().open(0).registerProxy(0).next(0).connect(0).outcome(0, true).b);
  s.emplace_back("verify_then_refuse", S().open(0).registerProxy(0).connect(1).next(0).outcome(0, false).b);
  s.emplace_back("v6_connect_pended", S().open(0).registerProxy(0).connect(3).next(0).outcome(0, true).b);
  s.emplace_back("close_with_next_waiting", S().open(0).registerProxy(0).next(0).next(0).close(0).next(0).b);
  s.emplace_back("abandon_with_pended_connects",
                 S().open(0).registerProxy(0).connect(0).connect(3).next(0).close(0, true).b);
  s.emplace_back("second_handle_registers",
                 S().open(0).open(2).registerProxy(0).connect(0).registerProxy(1).next(1).outcome(0, true).b);
  s.emplace_back("outcome_twice_and_on_other_handle",
                 S().open(0).open(0).registerProxy(0).connect(0).next(1).outcome(1, true).outcome(0, true).b);
  s.emplace_back("short_buffers",
                 S().open(0).registerProxy(0, 3).next(0, 2).outcome(0, true, 15).registerProxy(0, 0).b);
  s.emplace_back("oversized_lengths", S().open(1).oversizedInput(0).next(0, 6).next(0, 5).b);
  s.emplace_back("unknown_codes", S().open(0).rawIoctl(0, IOCTL_VP_NEXT | 3, 8, 1).rawIoctl(0, 0x00220000, 0, 4)
                                      .rawIoctl(0, IOCTL_VP_REGISTER | 2, 4, 0).b);
  s.emplace_back("app_registers_itself", S().open(1).registerProxy(0).connect(0).connect(1).next(0).b);
  // S14.8: no proxy -> connects refused; a second REGISTER is busy, also after the first closed.
  s.emplace_back("no_proxy_fails_closed", S().open(0).connect(0).connect(3).registerProxy(0).connect(0).next(0)
                                              .outcome(0, true).close(0).connect(0).b);
  s.emplace_back("second_register_busy", S().open(0).open(2).registerProxy(0).registerProxy(1).registerProxy(0, 8)
                                             .close(0).registerProxy(1, 8, 2).connect(0).next(1).outcome(1, true).b);
  // Deadlines: a 10 ms pend timeout; the connect is refused at its deadline and the late OUTCOME
  // finds nothing; an undelivered one is never handed out.
  s.emplace_back("deadline_then_late_outcome", S().open(0).registerProxy(0, 8, 1 | 9 << 2).next(0).connect(0)
                                                   .outcomeFor(0, 0).connect(3).next(0).outcomeFor(0, 1).b);
  s.emplace_back("long_timeout_answered", S().open(0).registerProxy(0, 8, 2).connect(0).next(0).outcome(0, true).b);
  // Openers: another uid, inside a tree or not, is refused; the engine's uid in a tree and root open.
  s.emplace_back("openers_by_descriptor", S().open(0 | 4 << 2).open(1 | 5 << 2).open(0 | 2 << 2).open(2 | 3 << 2)
                                              .registerProxy(0).connect(0).next(1).outcome(0, true).b);
  return s;
}

}  // namespace openwfp::device_props
