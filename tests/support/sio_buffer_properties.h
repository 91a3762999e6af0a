// tests/support/sio_buffer_properties.h - the properties the proxy-side socket controls of S9
// (SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS, SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT,
// SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS) must keep for any buffers a caller passes: the rules
// of src/winsock/control_rules.h over a SocketBackend, reached directly, through openwfp_ioctl
// and through the WSAIoctl shim (src/winsock/ioctl.cpp). Written once, used by the libFuzzer
// target fuzz/sio_buffer_fuzz.cpp and by the replay test
// SioBufferFuzz.S12_4_SocketControlBuffersFollowTheS9Rules (tests/winsock/).
//
// One input describes one call: the socket's facts (state, the connection's history: none,
// empty, 1..9 entries with or without a parent and a context; target and caller PIDs; errors
// describe() and attachRecords() report), the control code, the input (a blob sealed for a
// history, altered or not, or raw bytes; NULL; any length), the output buffer (NULL or not,
// length, alignment 0..7), a NULL returned pointer, and the entry point.
// Properties (a reference model restates the rules from the SPEC S9 text, include/openwfp/
// winsock.h's error table and docs/records-format.md, independently of control_rules.cpp):
//  - the errno (and WSAGetLastError() through the shim) is the one the rules give;
//  - the bytes-returned value is right: the records' or context's size on success and on
//    ENOBUFS, 0 for SIO_SET, untouched by applyControlRules and 0 through openwfp_ioctl /
//    WSAIoctl otherwise;
//  - on success exactly those bytes are written at the start of the output buffer and nothing
//    else: the rest of the buffer, the guard bytes after it and the input stay as they were; on
//    an error nothing is written; what SIO_SET attaches names the sealed history's entries;
//  - the records returned are 24 + 50 * entries + 32 bytes and open to the same entries.
// SIO_SET's inputs include records issued to the caller, to another process (the newest entry's
// target PID decides, S14.9) and to target PID 0.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "openwfp/openwfp.h"
#include "openwfp/winsock.h"
#include "redirect/history.h"
#include "redirect/records.h"
#include "support/fuzz_input.h"
#include "winsock/control_rules.h"
#include "winsock/socket_backend.h"
#include "winsock/socket_registry.h"

namespace openwfp::sio_props {

using testing_support::FuzzInput;
using winsock::SocketState;

inline constexpr int kFd = (1 << 24) + 7;         // owned by the model backend
inline constexpr int kUnownedFd = (1 << 24) + 99;  // owned by no backend and not open
inline constexpr uint64_t kCaller = 31337;
inline constexpr size_t kGuard = 16;
inline constexpr uint8_t kFill = 0xA5;
inline constexpr size_t kReturnedSentinel = 0xDEADBEEF;

// A backend whose one socket has the facts the input chose.
class ModelBackend : public winsock::SocketBackend {
 public:
  winsock::SocketFacts facts;
  int describeError = 0;
  int attachError = 0;
  std::shared_ptr<redirect::History> attached;
  int attachCalls = 0;

  bool owns(int fd) const override { return fd == kFd; }
  int describe(int fd, winsock::SocketFacts& out) const override {
    if (fd != kFd) return EBADF;
    if (describeError != 0) return describeError;
    out = facts;
    return 0;
  }
  int attachRecords(int fd, std::shared_ptr<redirect::History> history) override {
    ++attachCalls;
    if (fd != kFd) return EBADF;
    if (attachError != 0) return attachError;
    attached = std::move(history);
    return 0;
  }
};

// A history of `count` entries (count > kMaxEntries cannot be sealed), the oldest `inherited`
// of them in a parent; with a context of contextSize bytes on the newest own entry when asked.
// The newest entry has target PID targetPid, the older ones olderTargetPid (targetPid when 0).
inline std::shared_ptr<redirect::History> makeHistory(size_t count, size_t inherited, bool context,
                                                      size_t contextSize, uint32_t targetPid,
                                                      uint32_t olderTargetPid = 0) {
  inherited = std::min(inherited, count);
  std::shared_ptr<redirect::History> parent;
  if (inherited > 0) parent = redirect::History::create();
  auto history = redirect::History::create(parent);
  for (size_t i = 0; i < count; ++i) {
    redirect::Entry e;
    e.redirectHandle = 0x100 + i;
    e.targetPid = i + 1 == count || olderTargetPid == 0 ? targetPid : olderTargetPid;
    e.originalDestination = i % 2 ? *Endpoint::parse("[2001:db8::80]:443") : *Endpoint::parse("192.0.2.80:80");
    e.redirectedTo = i % 2 ? *Endpoint::parse("[::1]:8443") : *Endpoint::parse("127.0.0.1:8080");
    e.filterId = 7;
    const bool own = i >= inherited;
    if (own && context && i + 1 == count) {
      e.context = std::malloc(std::max<size_t>(contextSize, 1));
      for (size_t k = 0; k < contextSize; ++k) static_cast<uint8_t*>(e.context)[k] = static_cast<uint8_t>(k * 7 + 1);
      e.contextSize = contextSize;
    }
    (own ? history : parent)->add(e, [](void* p) { std::free(p); });
  }
  return history;
}

inline std::string errName(int e) {
  switch (e) {
    case 0: return "0";
    case ENOBUFS: return "ENOBUFS";
    case ENOENT: return "ENOENT";
    case ENOTCONN: return "ENOTCONN";
    case EACCES: return "EACCES";
    case ENOTSOCK: return "ENOTSOCK";
    case EBADF: return "EBADF";
    case EISCONN: return "EISCONN";
    case EINVAL: return "EINVAL";
    case EFAULT: return "EFAULT";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case EMSGSIZE: return "EMSGSIZE";
    case EIO: return "EIO";
    default: return "errno " + std::to_string(e);
  }
}

// include/openwfp/winsock.h's table.
inline int wsaFor(int e) {
  switch (e) {
    case ENOBUFS: return static_cast<int>(ERROR_INSUFFICIENT_BUFFER);
    case ENOENT: return OPENWFP_WSA_NOT_FOUND;
    case ENOTCONN: return WSAENOTCONN;
    case EACCES: return WSAEACCES;
    case ENOTSOCK:
    case EBADF: return WSAENOTSOCK;
    case EISCONN: return WSAEISCONN;
    case EINVAL: return WSAEINVAL;
    case EFAULT: return WSAEFAULT;
    case EOPNOTSUPP: return WSAEOPNOTSUPP;
    case EMSGSIZE: return WSAEMSGSIZE;
    case ENOMEM: return WSAENOBUFS;
    default: return WSAEINVAL;
  }
}

enum class Entry { Rules, Ioctl, Wsa };

struct Expected {
  int err = 0;
  bool setsReturned = false;  // *returned = returnedValue (success, ENOBUFS)
  size_t returnedValue = 0;
  std::vector<uint8_t> written;  // on success: the bytes at the start of the output buffer
  bool attaches = false;
};

inline void dummyCompletion(DWORD, DWORD, LPWSAOVERLAPPED, DWORD) {}

// One call as described by the input; empty string when every property held.
inline std::string checkControl(std::span<const uint8_t> data) {
  FuzzInput in(data);
  auto backend = std::make_shared<ModelBackend>();
  auto& sealer = Runtime::current().sealer();

  // ---- the socket ----
  const uint8_t f0 = in.u8();
  static constexpr SocketState kStates[] = {SocketState::Unconnected, SocketState::Connecting, SocketState::Listening,
                                            SocketState::Connected};
  backend->facts.state = kStates[f0 & 3];
  backend->facts.protocol = (f0 & 4) ? Protocol::Udp : Protocol::Tcp;
  static constexpr int kDescribeErrors[] = {0, 0, 0, 0, 0, ENOTSOCK, EBADF, EIO};
  backend->describeError = kDescribeErrors[(f0 >> 3) & 7];
  static constexpr int kAttachErrors[] = {0, 0, 0, 0, EISCONN, EINVAL, EBADF, ENOMEM};
  backend->attachError = kAttachErrors[(f0 >> 6) & 3 ? (in.u8() & 7) : 0];
  // h: bits 0-3 the entries (mod 10), 4-5 how many of them a parent holds, 6 a context on the
  // newest own entry, 7 no history at all. pidSel: target 0 / another / the caller, bit 7 tracked.
  const uint8_t h = in.u8();
  const uint8_t pidSel = in.u8();
  backend->facts.callerPid = kCaller;
  backend->facts.redirectTargetPid = pidSel % 4 == 0 ? 0 : pidSel % 4 == 1 ? 4242 : kCaller;
  const size_t contextSize = in.u8() % 40;
  std::shared_ptr<redirect::History> history;
  const size_t count = h % 10;
  if ((h & 0x80) == 0) {
    history = makeHistory(count, (h >> 4) & 3, (h & 0x40) != 0, contextSize,
                          static_cast<uint32_t>(backend->facts.redirectTargetPid));
    if (pidSel & 0x80) sealer.track(history);  // the connection is live
  }
  backend->facts.history = history;

  // ---- the call ----
  const uint8_t c0 = in.u8();
  static constexpr unsigned kCodes[] = {SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS,
                                        SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT,
                                        SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS};
  unsigned code = (c0 & 3) == 3 ? in.u32() : kCodes[c0 & 3];
  const Entry entry = (c0 >> 2) % 3 == 0 ? Entry::Rules : (c0 >> 2) % 3 == 1 ? Entry::Ioctl : Entry::Wsa;
  const bool nullReturned = (c0 & 0x10) != 0;  // Wsa: WSAEFAULT
  const bool unowned = (c0 & 0x20) != 0 && (c0 & 0x40) != 0;
  const bool completion = (c0 & 0x80) != 0 && entry == Entry::Wsa && (c0 & 0x20) != 0;
  const bool negativeFd = (c0 & 0xC0) == 0x40 && entry != Entry::Rules;

  // Input: a blob sealed for a history, then perhaps altered, or raw bytes. i0 & 3: 1 the
  // socket's own history (when it has one), 2 records issued to the caller (older entries to
  // another process), 3 records issued to another process (older entries to the caller).
  const uint8_t i0 = in.u8();
  std::vector<uint8_t> blob;
  bool blobValid = false;
  std::shared_ptr<redirect::History> sealedFor;
  uint64_t sealedNewestTarget = 0;  // the target PID of the sealed history's newest entry
  if ((i0 & 3) != 0) {
    if ((i0 & 3) == 1 && history) {
      sealedFor = history;
      sealedNewestTarget = count == 0 ? 0 : backend->facts.redirectTargetPid;
    } else {
      const bool toCaller = (i0 & 3) != 3;
      sealedNewestTarget = toCaller ? kCaller : 4242;
      sealedFor = makeHistory(1 + in.u8() % 9, 0, false, 0, static_cast<uint32_t>(sealedNewestTarget),
                              toCaller ? 4242 : static_cast<uint32_t>(kCaller));
    }
    if ((i0 & 4) != 0) sealer.track(sealedFor);
    blob = sealer.seal(*sealedFor);
    blobValid = !blob.empty();
    if ((i0 & 0x18) != 0 && !blob.empty()) {
      const uint8_t how = (i0 >> 3) & 3;
      const size_t at = in.u16() % blob.size();
      if (how == 1) {
        blob[at] ^= static_cast<uint8_t>(1 | in.u8());
      } else if (how == 2) {
        blob.resize(at);
      } else {
        blob.push_back(in.u8());
      }
      blobValid = false;
    }
  } else {
    blob = in.bytes(in.u8());
  }
  const bool nullIn = (i0 & 0x20) != 0;
  size_t inLen = blob.size();
  if ((i0 & 0x40) != 0) inLen = in.u16();  // a length the bytes do not back (only with NULL)
  if (!nullIn) inLen = blob.size();
  const size_t inAlign = (i0 >> 7) ? (in.u8() & 7) : 0;

  // Output: NULL or a buffer at alignment 0..7 with guard bytes after it.
  const uint8_t o0 = in.u8();
  const bool nullOut = (o0 & 1) != 0;
  size_t outLen;
  switch ((o0 >> 1) & 3) {
    case 0: outLen = 0; break;
    case 1: outLen = in.u8(); break;
    case 2: outLen = 56 + (in.u8() % 8) * 50 + (in.u8() % 3) - 1; break;  // around a records size
    default: outLen = in.u16() % 2048; break;
  }
  const size_t outAlign = (o0 >> 3) & 7;

  // ---- the reference model ----
  Expected want;
  const bool queries = code == SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS || code == SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT;
  // openwfp_ioctl passes no output length with a NULL output buffer, except for SIO_SET.
  const size_t effOutLen = entry != Entry::Rules && nullOut && code != SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS ? 0 : outLen;
  const auto describeResult = [&]() -> int {
    if (unowned) return ENOTSOCK;  // no backend owns it, and it is not open
    return backend->describeError == EBADF ? ENOTSOCK : backend->describeError;
  };
  const auto deliver = [&](const std::vector<uint8_t>& bytes) {
    want.setsReturned = true;
    want.returnedValue = bytes.size();
    if (nullOut || effOutLen < bytes.size()) {
      want.err = ENOBUFS;
    } else {
      want.err = 0;
      want.written = bytes;
    }
  };
  const size_t totalEntries = history ? count : 0;
  if (negativeFd) {
    want.err = EBADF;
  } else if (queries) {
    if (int e = describeResult(); e != 0) {
      want.err = e;
    } else if (backend->facts.state != SocketState::Connected) {
      want.err = ENOTCONN;
    } else if (!history || totalEntries == 0) {
      want.err = ENOENT;
    } else if (backend->facts.redirectTargetPid == 0 || backend->facts.redirectTargetPid != kCaller) {
      want.err = EACCES;
    } else if (code == SIO_QUERY_WFP_CONNECTION_REDIRECT_CONTEXT) {
      const bool ownContext = (h & 0x40) != 0 && count > ((h >> 4) & 3);
      if (!ownContext) {
        want.err = ENOENT;
      } else {
        std::vector<uint8_t> ctx(contextSize);
        for (size_t k = 0; k < contextSize; ++k) ctx[k] = static_cast<uint8_t>(k * 7 + 1);
        deliver(ctx);
      }
    } else if (totalEntries > redirect::RecordsSealer::kMaxEntries) {
      want.err = EMSGSIZE;
    } else {
      std::vector<uint8_t> records = sealer.seal(*history);
      if (records.size() != 24 + 50 * totalEntries + 32) {
        return "the records of " + std::to_string(totalEntries) + " entries are " + std::to_string(records.size()) +
               " bytes, the format says " + std::to_string(24 + 50 * totalEntries + 32);
      }
      deliver(records);
    }
  } else if (code == SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS) {
    if (int e = describeResult(); e != 0) {
      want.err = e;
    } else if (effOutLen != 0) {
      want.err = EINVAL;
    } else if (backend->facts.state == SocketState::Connecting || backend->facts.state == SocketState::Connected) {
      want.err = EISCONN;
    } else if (backend->facts.state == SocketState::Listening) {
      want.err = EINVAL;
    } else if (nullIn && inLen != 0) {
      want.err = EFAULT;
    } else if (nullIn || inLen == 0 || !blobValid) {
      want.err = EINVAL;
    } else if (sealedNewestTarget == 0 || sealedNewestTarget != kCaller) {
      // S14.9 (docs/records-format.md): records are bound to the process they were issued to,
      // the target PID of their newest entry; anyone else gets EACCES and nothing is attached.
      want.err = EACCES;
    } else if (backend->attachError != 0) {
      want.err = backend->attachError == EBADF ? ENOTSOCK : backend->attachError;
    } else {
      want.err = 0;
      want.setsReturned = true;
      want.returnedValue = 0;
      want.attaches = true;
    }
  } else {
    want.err = EOPNOTSUPP;  // any other code, whatever the socket
  }
  // The shim refuses some calls before the rules: a completion routine (WSAEOPNOTSUPP, nothing
  // written), no lpcbBytesReturned (WSAEFAULT).
  const bool shimRefuses = entry == Entry::Wsa && (completion || nullReturned);
  if (shimRefuses) want = Expected{};

  // ---- the call ----
  std::vector<uint8_t> inRegion(inAlign + blob.size());
  std::copy(blob.begin(), blob.end(), inRegion.begin() + static_cast<std::ptrdiff_t>(inAlign));
  const std::vector<uint8_t> inBefore = inRegion;
  std::vector<uint8_t> outRegion(outAlign + outLen + kGuard, kFill);
  uint8_t* out = nullOut ? nullptr : outRegion.data() + outAlign;
  const void* inPtr = nullIn ? nullptr : inRegion.data() + inAlign;
  size_t returned = kReturnedSentinel;
  size_t* returnedPtr = nullReturned ? nullptr : &returned;
  const int fd = negativeFd ? -1 : unowned ? kUnownedFd : kFd;

  int err = 0;
  int wsa = 0;
  {
    auto registration = winsock::SocketRegistry::instance().add(backend);
    if (entry == Entry::Rules) {
      winsock::ControlCall call;
      call.code = code;
      call.in = inPtr;
      call.inLen = inLen;
      call.out = out;
      call.outLen = outLen;
      call.returned = returnedPtr;
      err = unowned ? winsock::SocketRegistry::instance().find(fd)->control(fd, call)
                    : winsock::applyControlRules(*backend, fd, call, sealer);
    } else if (entry == Entry::Ioctl) {
      errno = 0;
      const int rc = openwfp_ioctl(fd, code, inPtr, inLen, out, outLen, returnedPtr);
      err = rc == 0 ? 0 : errno;
      if ((rc == 0) != (err == 0)) return "openwfp_ioctl returned " + std::to_string(rc) + " with errno " + errName(err);
    } else {
      DWORD bytes = 0xFFFFFFFFu;
      WSASetLastError(0);
      const int rc = WSAIoctl(fd, code, const_cast<void*>(inPtr), static_cast<DWORD>(inLen), out,
                              static_cast<DWORD>(outLen), nullReturned ? nullptr : &bytes, nullptr,
                              completion ? &dummyCompletion : nullptr);
      wsa = rc == 0 ? 0 : WSAGetLastError();
      if (rc != 0 && rc != SOCKET_ERROR) return "WSAIoctl returned " + std::to_string(rc);
      if (!nullReturned) returned = bytes;
    }
  }

  // ---- the properties ----
  const std::string what = std::string("code 0x") + [&] {
    char b[12];
    std::snprintf(b, sizeof b, "%08X", code);
    return std::string(b);
  }() + ": ";
  if (entry == Entry::Wsa) {
    const int wantWsa = completion ? WSAEOPNOTSUPP : nullReturned ? WSAEFAULT : want.err == 0 ? 0 : negativeFd ? WSAENOTSOCK : wsaFor(want.err);
    if (wsa != wantWsa) {
      return what + "WSAGetLastError " + std::to_string(wsa) + ", the rules say " + std::to_string(wantWsa) + " (" +
             errName(want.err) + ")";
    }
  } else if (err != want.err) {
    return what + "errno " + errName(err) + ", the rules say " + errName(want.err);
  }
  // Bytes returned.
  if (!nullReturned) {
    size_t wantReturned;
    if (entry == Entry::Wsa && completion) wantReturned = 0xFFFFFFFFu;  // not reached
    else if (want.setsReturned) wantReturned = want.returnedValue;
    else wantReturned = entry == Entry::Rules ? kReturnedSentinel : 0;
    if (returned != wantReturned) {
      return what + "bytes returned " + std::to_string(returned) + ", expected " + std::to_string(wantReturned);
    }
  }
  // Output buffer and guard.
  for (size_t k = 0; k < outRegion.size(); ++k) {
    const bool inOut = !nullOut && k >= outAlign && k - outAlign < want.written.size();
    const uint8_t expect = inOut ? want.written[k - outAlign] : kFill;
    if (outRegion[k] != expect) {
      return what + "output byte " + std::to_string(static_cast<long>(k) - static_cast<long>(outAlign)) + " of " +
             std::to_string(outLen) + (inOut ? " differs from the expected bytes" : " written outside the result");
    }
  }
  if (inRegion != inBefore) return what + "the input buffer was written";
  // SIO_SET: what was attached.
  if (want.attaches != (backend->attached != nullptr)) {
    return what + (want.attaches ? "nothing attached" : "records attached although the call failed");
  }
  if (want.attaches) {
    const auto got = backend->attached->entries();
    const auto sealedEntries = sealedFor->entries();
    if (got.size() != sealedEntries.size()) return what + "the attached history has another number of entries";
    for (size_t k = 0; k < got.size(); ++k) {
      if (got[k].redirectHandle != sealedEntries[k].redirectHandle || got[k].targetPid != sealedEntries[k].targetPid ||
          !(got[k].originalDestination == sealedEntries[k].originalDestination) ||
          !(got[k].redirectedTo == sealedEntries[k].redirectedTo)) {
        return what + "attached entry " + std::to_string(k) + " differs from the sealed one";
      }
    }
  }
  // Records returned open to the same entries.
  if (code == SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS && want.err == 0 && !want.written.empty()) {
    auto opened = sealer.open(std::span<const uint8_t>(out, want.written.size()));
    if (!opened || opened->entryCount() != totalEntries) return what + "the records returned do not open to the history";
  }
  return {};
}

// Named inputs for the seed corpus (fuzz/seeds/sio_buffer/) and the replay.
inline std::vector<std::pair<std::string, std::vector<uint8_t>>> seeds() {
  // Layout: f0 [attach sel], h, pid, ctxSize, c0 [code], i0 [...], o0 [...]
  std::vector<std::pair<std::string, std::vector<uint8_t>>> s;
  // Connected, 1 entry with a 24-byte context, caller is the target; records into a 106+ buffer.
  s.push_back({"query_records_fits", {3, 0x41, 2, 24, 0x00, 0x00, 0, 0x0E, 0x00, 0x02}});
  s.push_back({"query_records_probe_null", {3, 0x42, 2, 0, 0x04, 0x00, 0, 0x01}});
  s.push_back({"query_records_short_by_one", {3, 0x01, 2, 0, 0x04, 0x00, 0, 0x04, 1, 0}});
  s.push_back({"query_records_nine_entries", {3, 0x09, 2, 0, 0x00, 0x00, 0, 0x06, 255, 255}});
  s.push_back({"query_context_wsa", {3, 0x41, 2, 24, 0x09, 0x00, 0, 0x02 | 0x28, 24}});
  s.push_back({"query_context_none", {3, 0x02, 2, 0, 0x01, 0x00, 0, 0x02, 40}});
  s.push_back({"query_not_target", {3, 0x01, 1, 0, 0x00, 0x00, 0, 0x02, 200}});
  s.push_back({"query_unconnected", {0, 0x01, 2, 0, 0x04, 0x00, 0, 0x02, 200}});
  s.push_back({"set_valid_blob", {0, 0x81, 0x82, 0, 0x06, 0x06, 2, 0x00}});
  // S14.9: records issued to another process (their older entries name the caller); records of
  // the socket's own history whose target PID is 0.
  s.push_back({"set_records_of_another_process", {0, 0x81, 0x82, 0, 0x06, 0x07, 2, 0x00}});
  s.push_back({"set_records_target_zero", {0, 0x03, 0x80, 0, 0x06, 0x05, 0x00}});
  s.push_back({"set_flipped_byte", {0, 0x81, 0x82, 0, 0x06, 0x0A, 2, 40, 0, 1, 0x00}});
  s.push_back({"set_truncated_wsa", {0, 0x81, 0x82, 0, 0x0A, 0x12, 2, 30, 0, 0x00}});
  s.push_back({"set_null_with_length", {0, 0x81, 0x82, 0, 0x06, 0x60, 0, 0, 16, 0, 0x00}});
  s.push_back({"set_out_len_nonzero", {0, 0x81, 0x82, 0, 0x06, 0x06, 2, 0x03, 4}});
  s.push_back({"set_attach_races_connect", {0x40, 4, 0x81, 0x82, 0, 0x06, 0x06, 2, 0x00}});
  s.push_back({"set_on_connected", {3, 0x81, 0x82, 0, 0x06, 0x06, 2, 0x00}});
  s.push_back({"unknown_code_misaligned", {3, 0x01, 2, 0, 0x07, 0x12, 0x34, 0x56, 0x78, 0x80, 3, 4, 0x3A, 77}});
  s.push_back({"wsa_null_returned", {3, 0x01, 2, 0, 0x18, 0x00, 0, 0x02, 200}});
  s.push_back({"not_a_socket", {0x28, 0x01, 2, 0, 0x04, 0x00, 0, 0x02, 200}});
  return s;
}

}  // namespace openwfp::sio_props
