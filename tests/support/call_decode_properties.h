// tests/support/call_decode_properties.h - the properties the supervisor's reading of a notified
// sendto()/sendmsg()/sendmmsg() (src/linux/datagram.h, S13.7, S12.4) must keep for any memory a
// supervised task can show it: the msghdr / mmsghdr heads, the name, the iovec array and the
// data it points to, the control buffer, and the UDP destination taken from the name. Written
// once, used by the libFuzzer target fuzz/call_decode_fuzz.cpp and by the replay test
// CallDecodeFuzz.S13_7_SendCallsReadFromTaskMemoryKeepTheirBounds (tests/linux/).
//
// One input is a notification (the call, the socket's domain, the syscall arguments) and a
// memory image: the task's memory is the image's bytes at kBase and nothing else (a read
// elsewhere fails with EFAULT, as process_vm_readv does for an unmapped range). The calls are
// read as the decoder and the send performer read them (heads, then per message its name, its
// destination and its datagram).
// Properties (a reference model restates the rules of datagram.h and the kernel's, independently
// of datagram.cpp):
//  - memory is read only through the reader, each read at most one structure or buffer the
//    rules allow (a sockaddr_storage, 1024 mmsghdrs or iovecs, 65,535 payload bytes, 4 KiB of
//    control); a read that fails makes the function fail with EFAULT, and a function that
//    succeeds had no read fail;
//  - heads are the image's msghdr fields (msg_namelen negative: EINVAL, beyond sockaddr_storage:
//    clamped, no name: 0); a name longer than sockaddr_storage is EINVAL;
//  - a datagram is accepted exactly when the model accepts it (more than 1024 iovecs or 65,535
//    bytes: EMSGSIZE; an iov_len negative as ssize_t: EINVAL; control over 4 KiB: ENOBUFS;
//    a control message shorter than its header or past the buffer: EINVAL; one not on the
//    datagram.h list: EPERM), and then its payload is the iovecs' bytes in order and its control
//    the image's bytes: within the caps, and never with a message of level SOL_SOCKET (SO_MARK,
//    SCM_RIGHTS, SCM_CREDENTIALS...) or any other not on the list;
//  - udpSendDestination agrees with a model of udp_sendmsg / udpv6_sendmsg.
// Three differences from the kernel's errno are tolerated and reported in fuzz/RUNS.md:
// msg_controllen above INT_MAX (EINVAL here, ENOBUFS in ____sys_sendmsg), a sendto() length above
// INT64_MAX (EINVAL here, EMSGSIZE in the kernel), and a negative iov_len after the elements before
// it passed 65,535 bytes (EMSGSIZE here, EINVAL from iovec_from_user).
#pragma once

#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "linux/datagram.h"
#include "openwfp/stack.h"
#include "support/fuzz_input.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

namespace openwfp::call_props {

namespace lb = linux_backend;
using testing_support::FuzzInput;
using testing_support::putLe;

inline constexpr uint64_t kBase = 0x10000;  // where the image is in the task's memory
inline constexpr pid_t kTid = 4242;
inline constexpr size_t kMaxRead = 1024 * sizeof(mmsghdr);  // the largest structure read at once

// The task's memory for one input, and what was read of it.
struct Memory {
  std::span<const uint8_t> image;
  bool faulted = false;    // a read outside the image
  bool oversized = false;  // a read longer than any structure the rules allow
  bool otherTask = false;  // a read of another task
  size_t reads = 0;
};
inline thread_local Memory* gMemory = nullptr;

inline int readImage(pid_t tid, uint64_t addr, void* out, size_t len) {
  Memory& m = *gMemory;
  ++m.reads;
  if (tid != kTid) m.otherTask = true;
  if (len > kMaxRead) m.oversized = true;
  if (len == 0) return 0;
  if (addr < kBase || addr - kBase > m.image.size() || len > m.image.size() - (addr - kBase)) {
    m.faulted = true;
    return EFAULT;
  }
  std::memcpy(out, m.image.data() + (addr - kBase), len);
  return 0;
}

// Bytes of the image at addr, if all there.
inline std::optional<std::vector<uint8_t>> imageAt(std::span<const uint8_t> image, uint64_t addr, size_t len) {
  if (addr < kBase || addr - kBase > image.size() || len > image.size() - (addr - kBase)) return std::nullopt;
  const auto at = image.begin() + static_cast<std::ptrdiff_t>(addr - kBase);
  return std::vector<uint8_t>(at, at + static_cast<std::ptrdiff_t>(len));
}

inline uint64_t le(const uint8_t* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= uint64_t{p[i]} << (8 * i);
  return v;
}

// ---- the model ----

// The control messages datagram.h lets through.
inline bool listed(int32_t level, int32_t type) {
  if (level == SOL_IP) return type == IP_PKTINFO || type == IP_TOS || type == IP_TTL;
  if (level == SOL_IPV6) {
    return type == IPV6_PKTINFO || type == IPV6_TCLASS || type == IPV6_HOPLIMIT || type == IPV6_DONTFRAG;
  }
  if (level == SOL_UDP) return type == UDP_SEGMENT;
  return false;
}

// The kernel's walk of a control buffer (CMSG_FIRSTHDR / CMSG_NXTHDR, CMSG_OK): 0, EINVAL or EPERM.
inline int controlModel(std::span<const uint8_t> c) {
  size_t off = 0;
  while (c.size() - off >= 16) {  // struct cmsghdr: u64 len, i32 level, i32 type
    const uint64_t len = le(c.data() + off, 8);
    if (len < 16 || len > c.size() - off) return EINVAL;
    if (!listed(static_cast<int32_t>(le(c.data() + off + 8, 4)), static_cast<int32_t>(le(c.data() + off + 12, 4)))) {
      return EPERM;
    }
    const uint64_t step = (len + 7) & ~uint64_t{7};
    if (step >= c.size() - off) break;
    off += step;
  }
  return 0;
}

// Every control message's level in c (for the explicit SOL_SOCKET check).
inline bool hasSolSocket(std::span<const uint8_t> c) {
  size_t off = 0;
  while (c.size() - off >= 16) {
    const uint64_t len = le(c.data() + off, 8);
    if (static_cast<int32_t>(le(c.data() + off + 8, 4)) == SOL_SOCKET) return true;
    if (len < 16 || len > c.size() - off) return false;
    const uint64_t step = (len + 7) & ~uint64_t{7};
    if (step >= c.size() - off) break;
    off += step;
  }
  return false;
}

struct DatagramModel {
  int err = 0;
  std::vector<uint8_t> payload, control;
  int alsoAccepted = 0;  // a known difference from the kernel (see the header): this errno passes too
};

inline DatagramModel failed(int err, int alsoAccepted = 0) {
  DatagramModel m;
  m.err = err;
  m.alsoAccepted = alsoAccepted;
  return m;
}

inline DatagramModel datagramModel(std::span<const uint8_t> image, const lb::MessageHead& h) {
  DatagramModel m;
  std::vector<std::pair<uint64_t, uint64_t>> iov;  // base, len
  if (h.direct) {
    // sendto(): one buffer; the kernel clamps a huge length (import_ubuf) and udp_sendmsg
    // fails it with EMSGSIZE.
    if (h.iovLen > 0xFFFF) return failed(EMSGSIZE, h.iovLen > uint64_t{INT64_MAX} ? EINVAL : 0);
    iov.emplace_back(h.iov, h.iovLen);
  } else {
    if (h.iovLen > 1024) return failed(EMSGSIZE);  // UIO_MAXIOV
    if (h.iovLen != 0) {
      auto bytes = imageAt(image, h.iov, h.iovLen * 16);
      if (!bytes) return failed(EFAULT);
      for (size_t i = 0; i < h.iovLen; ++i) iov.emplace_back(le(bytes->data() + 16 * i, 8), le(bytes->data() + 16 * i + 8, 8));
    }
    // iovec_from_user: any iov_len negative as ssize_t is EINVAL, whatever the others.
    for (const auto& [base, len] : iov) {
      if (len > uint64_t{INT64_MAX}) {
        m.err = EINVAL;
        uint64_t before = 0;  // datagram.cpp stops at the first element past the cap instead
        for (const auto& [b2, l2] : iov) {
          if (l2 > uint64_t{INT64_MAX}) break;
          if (l2 > 0xFFFF - before) {
            m.alsoAccepted = EMSGSIZE;
            break;
          }
          before += l2;
        }
        return m;
      }
    }
  }
  uint64_t total = 0;
  for (const auto& [base, len] : iov) {
    if (len > 0xFFFF - total) return failed(EMSGSIZE);  // udp_sendmsg: len > 0xFFFF
    total += len;
  }
  for (const auto& [base, len] : iov) {
    if (len == 0) continue;
    auto bytes = imageAt(image, base, len);
    if (!bytes) return failed(EFAULT);
    m.payload.insert(m.payload.end(), bytes->begin(), bytes->end());
  }
  if (h.controlLen != 0) {
    if (h.controlLen > INT_MAX) return failed(ENOBUFS, EINVAL);  // ____sys_sendmsg
    if (h.controlLen > 4096) return failed(ENOBUFS);          // kMaxControl
    auto bytes = imageAt(image, h.control, h.controlLen);
    if (!bytes) return failed(EFAULT);
    m.control = *bytes;
    if (int e = controlModel(m.control); e != 0) return failed(e);
  }
  return m;
}

// udp_sendmsg (AF_INET) and udpv6_sendmsg (AF_INET6) on the name: the endpoint, nullopt with
// err 0 for no name (AF_UNSPEC on AF_INET6 included), or the errno.
inline std::optional<Endpoint> destinationModel(std::span<const uint8_t> name, int domain, int& err) {
  err = 0;
  if (name.empty()) return std::nullopt;
  const auto family = static_cast<uint16_t>(le(name.data(), std::min<size_t>(2, name.size())));
  const auto port = [&] { return static_cast<uint16_t>(name[2] << 8 | name[3]); };
  const auto inet = [&](bool mapped) -> std::optional<Endpoint> {
    if (name.size() < sizeof(sockaddr_in)) {
      err = EINVAL;  // msg_namelen < sizeof(*usin)
      return std::nullopt;
    }
    if (!mapped && family != AF_INET && family != AF_UNSPEC) {
      err = EAFNOSUPPORT;
      return std::nullopt;
    }
    Endpoint ep;
    ep.port = port();
    if (mapped) {
      ep.version = IpVersion::V6;
      ep.addr[10] = ep.addr[11] = 0xFF;
      std::copy_n(name.begin() + 4, 4, ep.addr.begin() + 12);
    } else {
      ep.version = IpVersion::V4;
      std::copy_n(name.begin() + 4, 4, ep.addr.begin());
    }
    return ep;
  };
  if (domain == AF_INET) return inet(false);
  if (name.size() < 2) {  // offsetof(struct sockaddr, sa_data)
    err = EINVAL;
    return std::nullopt;
  }
  if (family == AF_INET) return inet(true);  // do_udp_sendmsg
  if (family == AF_UNSPEC) return std::nullopt;
  if (family != AF_INET6 || name.size() < 24) {  // SIN6_LEN_RFC2133
    err = EINVAL;
    return std::nullopt;
  }
  Endpoint ep;
  ep.version = IpVersion::V6;
  ep.port = port();
  std::copy_n(name.begin() + 8, 16, ep.addr.begin());
  return ep;
}

inline std::string sameEndpoint(const std::optional<Endpoint>& a, const std::optional<Endpoint>& b) {
  if (a.has_value() != b.has_value()) return a ? "an endpoint where the model has none" : "no endpoint where the model has one";
  if (!a) return {};
  if (a->version != b->version || a->port != b->port || a->addr != b->addr) return "another endpoint than the model's";
  return {};
}

// ---- one input ----

// Reads head h's name, destination and datagram as the send performer does and checks them.
inline std::string checkMessage(std::span<const uint8_t> image, Memory& mem, const lb::MessageHead& h, int domain,
                                const std::string& at) {
  // The name.
  lb::RawSockaddr raw;
  mem.faulted = false;
  int err = lb::readName(kTid, h.name, h.nameLen, raw);
  int wantErr = 0;
  std::vector<uint8_t> name;
  if (h.name != 0 && h.nameLen != 0) {
    if (h.nameLen > sizeof(sockaddr_storage)) {
      wantErr = EINVAL;
    } else if (auto b = imageAt(image, h.name, h.nameLen)) {
      name = *b;
    } else {
      wantErr = EFAULT;
    }
  }
  if (err != wantErr) return at + "readName gave errno " + std::to_string(err) + ", the model " + std::to_string(wantErr);
  if (err == 0 && (mem.faulted || raw.len != name.size() || !std::equal(name.begin(), name.end(), raw.bytes.begin()))) {
    return at + "readName succeeded with other bytes than the image's";
  }
  if (err != 0) return {};
  // The destination.
  int destErr = 0, modelErr = 0;
  const auto dest = lb::udpSendDestination(raw, domain, destErr);
  const auto model = destinationModel(name, domain, modelErr);
  if (destErr != modelErr) {
    return at + "udpSendDestination errno " + std::to_string(destErr) + ", udp_sendmsg's " + std::to_string(modelErr);
  }
  if (std::string f = sameEndpoint(dest, model); !f.empty()) return at + "udpSendDestination: " + f;
  // The datagram.
  mem.faulted = false;
  lb::Datagram d;
  err = lb::readDatagram(kTid, h, d);
  const DatagramModel dm = datagramModel(image, h);
  const bool errOk = err == dm.err || (dm.alsoAccepted != 0 && err == dm.alsoAccepted);
  if (!errOk) return at + "readDatagram errno " + std::to_string(err) + ", the model " + std::to_string(dm.err);
  if (mem.faulted != (err == EFAULT)) {
    return at + (mem.faulted ? "a read failed and readDatagram did not say EFAULT" : "EFAULT without a failed read");
  }
  if (err != 0) return {};
  if (d.payload.size() > 0xFFFF || d.control.size() > 4096 || (!h.direct && h.iovLen > 1024)) {
    return at + "accepted beyond the caps (" + std::to_string(d.payload.size()) + " bytes, " +
           std::to_string(d.control.size()) + " control bytes, " + std::to_string(h.iovLen) + " iovecs)";
  }
  if (hasSolSocket(d.control) || controlModel(d.control) != 0) return at + "a control message off the list was accepted";
  if (d.payload != dm.payload) return at + "the payload is not the iovecs' bytes in order";
  if (d.control != dm.control) return at + "the control bytes are not the image's";
  if (lb::checkControl(d.control) != 0) return at + "checkControl refuses what readDatagram accepted";
  return {};
}

// The whole property for one input; empty string when every property held.
// Input: call (0 sendto, 1 sendmsg, 2 sendmmsg; bit 2 AF_INET6), then the arguments, then the
// image. An address argument: selector byte (bit 0: kBase + u16, else a raw u64).
inline std::string checkCallDecode(std::span<const uint8_t> data) {
  FuzzInput in(data);
  const uint8_t c0 = in.u8();
  const unsigned call = c0 % 3;
  const int domain = (c0 & 4) ? AF_INET6 : AF_INET;
  const auto address = [&] { return (in.u8() & 1) ? kBase + in.u16() : in.u64(); };
  const uint64_t a1 = address();
  const uint64_t a2 = in.u32();  // sendto: len; sendmmsg: vlen
  const uint64_t a4 = call == 0 ? address() : 0;
  const uint32_t a5 = call == 0 ? in.u32() : 0;
  const std::vector<uint8_t> imageBytes = in.bytes(in.left());
  const std::span<const uint8_t> image(imageBytes);

  Memory mem;
  mem.image = image;
  gMemory = &mem;
  struct Restore {
    lb::TaskMemoryReader before;
    ~Restore() {
      lb::setTaskMemoryReader(before);
      gMemory = nullptr;
    }
  } restore{lb::setTaskMemoryReader(&readImage)};

  std::vector<lb::MessageHead> heads;
  if (call == 0) {
    // sendto(): the buffer and the name are arguments (a name of length <= 0 or beyond
    // sockaddr_storage fails in udp_sendmsg with EINVAL, before anything is read).
    lb::MessageHead h;
    h.direct = true;
    h.iov = a1;
    h.iovLen = a2;
    h.name = a4;
    h.nameLen = a5;
    if (h.name != 0 && (static_cast<int32_t>(a5) <= 0 || a5 > sizeof(sockaddr_storage))) return {};
    heads.push_back(h);
  } else {
    const unsigned count = call == 1 ? 1 : std::min<unsigned>(static_cast<uint32_t>(a2), lb::kMaxMessages);
    if (count == 0) return {};  // sendmmsg with vlen 0 returns 0 before anything is read
    const size_t stride = call == 1 ? sizeof(msghdr) : sizeof(mmsghdr);
    int err = call == 1 ? [&] {
      heads.resize(1);
      return lb::readMessageHead(kTid, a1, heads[0]);
    }() : lb::readMessageHeads(kTid, a1, count, heads);
    // The model: each head is 56 bytes at a1 + i * stride; any missing byte is EFAULT (the array
    // is read at once), a negative msg_namelen EINVAL.
    int wantErr = 0;
    std::vector<lb::MessageHead> want(count);
    const auto all = imageAt(image, a1, call == 1 ? sizeof(msghdr) : count * stride);
    if (!all) wantErr = EFAULT;
    for (unsigned i = 0; all && i < count && wantErr == 0; ++i) {
      const uint8_t* m = all->data() + i * stride;
      lb::MessageHead& w = want[i];
      w.name = le(m, 8);
      const auto nameLen = static_cast<uint32_t>(le(m + 8, 4));
      if (static_cast<int32_t>(nameLen) < 0) wantErr = EINVAL;
      w.nameLen = w.name == 0 ? 0 : std::min<uint32_t>(nameLen, sizeof(sockaddr_storage));
      w.iov = le(m + 16, 8);
      w.iovLen = le(m + 24, 8);
      w.control = le(m + 32, 8);
      w.controlLen = le(m + 40, 8);
    }
    if (err != wantErr) return "reading the heads gave errno " + std::to_string(err) + ", the model " + std::to_string(wantErr);
    if (mem.faulted != (err == EFAULT)) return "reading the heads: a failed read and EFAULT disagree";
    if (err != 0) return {};
    if (heads.size() != count) return "reading the heads gave " + std::to_string(heads.size()) + " heads for " + std::to_string(count);
    for (unsigned i = 0; i < count; ++i) {
      const auto& g = heads[i];
      const auto& w = want[i];
      if (g.name != w.name || g.nameLen != w.nameLen || g.iov != w.iov || g.iovLen != w.iovLen || g.control != w.control ||
          g.controlLen != w.controlLen || g.direct) {
        return "head " + std::to_string(i) + " differs from the image's msghdr";
      }
    }
  }
  for (size_t i = 0; i < heads.size() && i < 8; ++i) {
    if (std::string f = checkMessage(image, mem, heads[i], domain, "message " + std::to_string(i) + ": "); !f.empty()) {
      return f;
    }
  }
  if (mem.oversized) return "a read longer than any structure the rules allow";
  if (mem.otherTask) return "a read of another task";
  return {};
}

// ---- seeds ----

// A memory image under construction: add() places bytes at the next 8-aligned offset.
struct Image {
  std::vector<uint8_t> b;
  uint64_t add(const std::vector<uint8_t>& bytes) {
    while (b.size() % 8) b.push_back(0);
    const uint64_t at = kBase + b.size();
    b.insert(b.end(), bytes.begin(), bytes.end());
    return at;
  }
};

inline std::vector<uint8_t> le64s(std::initializer_list<uint64_t> v) {
  std::vector<uint8_t> out;
  for (uint64_t x : v) putLe(out, x, 8);
  return out;
}

inline std::vector<uint8_t> sockaddrIn(uint16_t port, std::array<uint8_t, 4> a) {
  std::vector<uint8_t> s{AF_INET, 0, static_cast<uint8_t>(port >> 8), static_cast<uint8_t>(port)};
  s.insert(s.end(), a.begin(), a.end());
  s.resize(16, 0);
  return s;
}

inline std::vector<uint8_t> sockaddrIn6(uint16_t port) {
  std::vector<uint8_t> s{AF_INET6, 0, static_cast<uint8_t>(port >> 8), static_cast<uint8_t>(port), 0, 0, 0, 0};
  s.resize(24, 0);
  s[23] = 1;  // ::1
  s.resize(28, 0);
  return s;
}

inline std::vector<uint8_t> cmsg(int32_t level, int32_t type, std::vector<uint8_t> data) {
  std::vector<uint8_t> c;
  putLe(c, 16 + data.size(), 8);
  putLe(c, static_cast<uint32_t>(level), 4);
  putLe(c, static_cast<uint32_t>(type), 4);
  c.insert(c.end(), data.begin(), data.end());
  while (c.size() % 8) c.push_back(0);
  return c;
}

// The input for a call whose msghdr (or mmsghdr array) is at `at` in the image (prefix layout:
// c0, selector 1, u16 offset, u32 vlen).
inline std::vector<uint8_t> callInput(uint8_t c0, uint64_t at, uint32_t vlen, const Image& img) {
  std::vector<uint8_t> in{c0, 1};
  putLe(in, at - kBase, 2);
  putLe(in, vlen, 4);
  in.insert(in.end(), img.b.begin(), img.b.end());
  return in;
}

// A sendmsg whose message has the name, the payload split over `parts` iovecs and `control`.
inline std::vector<uint8_t> sendmsgSeed(uint8_t c0, const std::vector<uint8_t>& name, size_t payload, size_t parts,
                                        const std::vector<uint8_t>& control, uint64_t iovLenOverride = 0) {
  Image img;
  const uint64_t head = img.add(std::vector<uint8_t>(sizeof(msghdr), 0));  // first: the argument is kBase + u16
  const uint64_t nameAt = name.empty() ? 0 : img.add(name);
  std::vector<uint64_t> iov;
  for (size_t i = 0; i < parts; ++i) {
    const size_t len = payload / parts + (i + 1 == parts ? payload % parts : 0);
    iov.push_back(img.add(std::vector<uint8_t>(len, static_cast<uint8_t>('a' + i))));
    iov.push_back(len);
  }
  std::vector<uint8_t> iovBytes;
  for (uint64_t v : iov) putLe(iovBytes, v, 8);
  const uint64_t iovAt = iovBytes.empty() ? 0 : img.add(iovBytes);
  const uint64_t ctlAt = control.empty() ? 0 : img.add(control);
  const auto msg = le64s({nameAt, name.size(), iovAt, iovLenOverride ? iovLenOverride : parts, ctlAt, control.size(), 0});
  std::copy(msg.begin(), msg.end(), img.b.begin() + static_cast<std::ptrdiff_t>(head - kBase));
  return callInput(c0, head, 1, img);
}

inline std::vector<std::pair<std::string, std::vector<uint8_t>>> seeds() {
  std::vector<std::pair<std::string, std::vector<uint8_t>>> s;
  const auto v4 = sockaddrIn(53, {127, 0, 0, 1});
  s.emplace_back("sendmsg_v4_three_iovecs", sendmsgSeed(1, v4, 30, 3, {}));
  s.emplace_back("sendmsg_v6_pktinfo", sendmsgSeed(1 | 4, sockaddrIn6(443), 10, 1, cmsg(SOL_IPV6, IPV6_PKTINFO, std::vector<uint8_t>(20, 0))));
  s.emplace_back("sendmsg_v4_on_v6_mapped", sendmsgSeed(1 | 4, v4, 5, 1, cmsg(SOL_IP, IP_TOS, {0x10, 0, 0, 0})));
  s.emplace_back("sendmsg_so_mark_refused", sendmsgSeed(1, v4, 5, 1, cmsg(SOL_SOCKET, SO_MARK, {1, 0, 0, 0})));
  s.emplace_back("sendmsg_scm_rights_after_allowed",
                 sendmsgSeed(1, v4, 5, 1, [] {
                   auto c = cmsg(SOL_UDP, UDP_SEGMENT, {0x20, 0x05});
                   auto r = cmsg(SOL_SOCKET, SCM_RIGHTS, {0, 0, 0, 0});
                   c.insert(c.end(), r.begin(), r.end());
                   return c;
                 }()));
  s.emplace_back("sendmsg_payload_at_cap", sendmsgSeed(1, v4, 0xFFFF, 2, {}));
  s.emplace_back("sendmsg_payload_over_cap", sendmsgSeed(1, v4, 0x10000, 2, {}));
  s.emplace_back("sendmsg_1025_iovecs", sendmsgSeed(1, v4, 4, 1, {}, 1025));
  s.emplace_back("sendmsg_iovecs_past_image", sendmsgSeed(1, v4, 4, 1, {}, 9));
  s.emplace_back("sendmsg_unspec_on_v6", sendmsgSeed(1 | 4, {AF_UNSPEC, 0, 0, 53}, 3, 1, {}));
  s.emplace_back("sendmsg_short_cmsg", sendmsgSeed(1, v4, 3, 1, [] {
                   std::vector<uint8_t> c;
                   putLe(c, 12, 8);
                   putLe(c, SOL_IP, 4);
                   putLe(c, IP_TTL, 4);
                   return c;
                 }()));
  {  // sendmmsg: two messages, the second with its own name.
    Image img;
    const uint64_t name1 = img.add(v4);
    const uint64_t name2 = img.add(sockaddrIn(54, {127, 0, 0, 2}));
    const uint64_t data = img.add({'h', 'i'});
    const uint64_t iov = img.add(le64s({data, 2}));
    std::vector<uint8_t> arr = le64s({name1, 16, iov, 1, 0, 0, 0, 0});
    const auto second = le64s({name2, 16, iov, 1, 0, 0, 0, 0});
    arr.insert(arr.end(), second.begin(), second.end());
    s.emplace_back("sendmmsg_two", callInput(2, img.add(arr), 2, img));
  }
  {  // sendto with a name in the image.
    Image img;
    const uint64_t name = img.add(v4);
    const uint64_t data = img.add({'x', 'y', 'z'});
    std::vector<uint8_t> in{0, 1};
    putLe(in, data - kBase, 2);
    putLe(in, 3, 4);
    in.push_back(1);
    putLe(in, name - kBase, 2);
    putLe(in, 16, 4);
    in.insert(in.end(), img.b.begin(), img.b.end());
    s.emplace_back("sendto_v4", in);
  }
  return s;
}

}  // namespace openwfp::call_props
