// tests/support/frame_chunks_properties.h - the bounds the control channel's frame reader
// (src/control/frame_io.cpp, S14.9) must keep when a client sends frames over a real Unix
// socket pair in chunks of any size, each chunk perhaps carrying descriptors (SCM_RIGHTS, real
// /dev/null fds) and credentials (SCM_CREDENTIALS). Written once, used by the libFuzzer target
// fuzz/frame_chunks_fuzz.cpp and by the replay test
// Fuzz.S14_9_FramesSplitAcrossChunksWithFdsKeepTheirBounds (tests/control/).
//
// The input describes frames (messages encoded by the codec, headers declaring more than
// follows, frames of unknown types, raw bytes) and how the stream is cut into chunks, each
// with 0..7 fds and perhaps explicit credentials. A writer thread sends the chunks and closes
// the connection; readFrame reads frame after frame until a status ends the connection.
// Properties, against a reference split of the stream (control_codec_properties.h's reading
// of the format) and a reference attribution of fds (a chunk's fds come with the read of its
// first byte, so they belong to the frame holding that byte):
//  - each readFrame returns what the reference says: status, frame size, request, message;
//  - a frame gets exactly the fds of its chunks, never more than kMaxFdsPerFrame: the moment
//    more arrive (counted across its reads) the frame is Malformed with tooManyFds and error
//    BadPayload, and those fds are closed; on any other failure no fd is kept;
//  - every fd handed out is open, close-on-exec, a distinct /dev/null; the process holds
//    exactly the fds handed out beyond what it had (counted in /proc/self/fd after each read),
//    and none after the frames and sockets are gone;
//  - the credentials are the sender's;
//  - the largest allocation while reading a frame follows the bytes that arrived for it (at
//    most twice them plus a little), never the size a header declares.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "control/frame_io.h"
#include "control/protocol.h"
#include "net/unique_fd.h"
#include "support/allocation_meter.h"
#include "support/control_codec_properties.h"
#include "support/fuzz_input.h"

namespace openwfp::control::chunk_props {

using testing_support::FuzzInput;
using testing_support::putLe;

inline constexpr size_t kMaxStream = 64 * 1024;
inline constexpr size_t kMaxChunks = 1024;
inline constexpr size_t kMaxFdsPerChunk = 7;
inline constexpr size_t kPoolFds = 8;

struct Chunk {
  size_t start = 0;
  size_t size = 0;
  size_t fds = 0;
  bool credentials = false;
};

struct Plan {
  std::vector<uint8_t> stream;
  std::vector<Chunk> chunks;
};

// Frames from the input, then the chunks that cut the stream.
inline Plan planFrom(std::span<const uint8_t> data) {
  FuzzInput in(data);
  Plan plan;
  auto& s = plan.stream;
  const uint8_t flags = in.u8();
  const size_t frames = 1 + in.u8() % 6;
  for (size_t f = 0; f < frames && s.size() < kMaxStream; ++f) {
    const uint8_t kind = in.u8();
    const uint64_t request = in.u8();
    std::vector<uint8_t> frame;
    switch (kind % 4) {
      case 0: {  // a message the codec encodes (when within its limits)
        const auto b = in.bytes(17 + in.u8());
        try {
          frame = encode(request, props::messageFromBytes(b));
        } catch (const std::exception&) {
          frame = b;
        }
        break;
      }
      case 1: {  // a header declaring a size, then only some of it
        const uint32_t declared = (kind & 0x80) ? in.u32() % (kMaxFrame + 64) : 16 + in.u16();
        putLe(frame, declared, 4);
        frame.push_back(kVersion);
        frame.push_back((kind & 0x40) ? in.u8() : 0x03);
        putLe(frame, 0, 2);
        putLe(frame, request, 8);
        const auto tail = in.bytes(in.u8());
        frame.insert(frame.end(), tail.begin(), tail.end());
        break;
      }
      case 2: {  // a well-formed frame of a type nobody knows
        const size_t payload = in.u8();
        putLe(frame, kHeaderSize + payload, 4);
        frame.push_back(kVersion);
        frame.push_back(static_cast<uint8_t>(0x10 + in.u8() % 0x60));
        putLe(frame, 0, 2);
        putLe(frame, request, 8);
        frame.resize(kHeaderSize + payload, 0x5A);
        break;
      }
      default:
        frame = in.bytes(in.u8());
        break;
    }
    s.insert(s.end(), frame.begin(), frame.end());
  }
  if (s.size() > kMaxStream) s.resize(kMaxStream);
  size_t pos = 0;
  while (pos < s.size()) {
    Chunk c;
    c.start = pos;
    if (in.empty() || plan.chunks.size() + 1 >= kMaxChunks) {
      c.size = s.size() - pos;
    } else {
      const uint8_t sel = in.u8();
      c.size = (sel & 0x80) ? 1 + in.u16() % 4096 : 1 + (sel & 0x3F);
      if (sel & 0x40) {
        const uint8_t f = in.u8();
        c.fds = f % (kMaxFdsPerChunk + 1);
        c.credentials = (f & 0x80) != 0 || (flags & 1) != 0;
      }
    }
    c.size = std::min(c.size, s.size() - pos);
    pos += c.size;
    plan.chunks.push_back(c);
  }
  return plan;
}

inline size_t countOpenFds() {
  size_t n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] != '.') ++n;
    }
    ::closedir(d);
    --n;  // the directory's own fd
  }
  return n;
}

// Sends the chunks (each with its fds from the pool and perhaps explicit credentials), then
// shuts the connection down. Stops at the first failure (the reader closed its end).
inline void sendChunks(int sock, const Plan& plan, const std::vector<int>& pool) {
  for (const Chunk& c : plan.chunks) {
    iovec iov{const_cast<uint8_t*>(plan.stream.data() + c.start), c.size};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerChunk) + CMSG_SPACE(sizeof(ucred))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    size_t len = 0;
    if (c.fds > 0) {
      cmsghdr* h = reinterpret_cast<cmsghdr*>(control);
      h->cmsg_level = SOL_SOCKET;
      h->cmsg_type = SCM_RIGHTS;
      h->cmsg_len = CMSG_LEN(sizeof(int) * c.fds);
      std::memcpy(CMSG_DATA(h), pool.data(), sizeof(int) * c.fds);
      len += CMSG_SPACE(sizeof(int) * c.fds);
    }
    if (c.credentials) {
      cmsghdr* h = reinterpret_cast<cmsghdr*>(control + len);
      h->cmsg_level = SOL_SOCKET;
      h->cmsg_type = SCM_CREDENTIALS;
      h->cmsg_len = CMSG_LEN(sizeof(ucred));
      const ucred cred{::getpid(), ::getuid(), ::getgid()};
      std::memcpy(CMSG_DATA(h), &cred, sizeof cred);
      len += CMSG_SPACE(sizeof(ucred));
    }
    if (len > 0) {
      msg.msg_control = control;
      msg.msg_controllen = len;
    }
    size_t sent = 0;
    while (sent < c.size) {
      ssize_t n;
      do {
        n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
      } while (n < 0 && errno == EINTR);
      if (n <= 0) {
        ::shutdown(sock, SHUT_WR);
        return;
      }
      sent += static_cast<size_t>(n);
      iov.iov_base = static_cast<uint8_t*>(iov.iov_base) + n;
      iov.iov_len -= static_cast<size_t>(n);
      msg.msg_control = nullptr;  // the ancillary data went with the first byte
      msg.msg_controllen = 0;
    }
  }
  ::shutdown(sock, SHUT_WR);
}

struct Want {
  ReadStatus status = ReadStatus::Eof;
  size_t consumed = 0;
  size_t fds = 0;
  bool tooManyFds = false;
};

// What readFrame must return for the frame at `pos`.
inline Want reference(const Plan& plan, size_t pos) {
  const auto fdsIn = [&](size_t a, size_t b) {
    size_t n = 0;
    for (const Chunk& c : plan.chunks) {
      if (c.start >= a && c.start < b) n += c.fds;
    }
    return n;
  };
  const auto rest = std::span<const uint8_t>(plan.stream).subspan(pos);
  Want w;
  if (rest.empty()) return w;  // Eof
  if (fdsIn(pos, pos + std::min(rest.size(), kHeaderSize)) > kMaxFdsPerFrame) {
    return {ReadStatus::Malformed, 0, 0, true};
  }
  if (rest.size() < kHeaderSize) return {ReadStatus::IoError, 0, 0, false};
  const DecodeError h = props::referenceHeader(rest);
  if (h != DecodeError::None && h != DecodeError::UnknownType) return {ReadStatus::Malformed, 0, 0, false};
  const size_t size = props::le32(rest, 0);
  if (fdsIn(pos, pos + std::min(rest.size(), size)) > kMaxFdsPerFrame) return {ReadStatus::Malformed, 0, 0, true};
  const props::ExpectedRead e = props::expectedRead(rest);
  w.status = e.status;
  w.consumed = e.consumed;
  w.fds = (e.status == ReadStatus::Ok || e.status == ReadStatus::UnknownType) ? fdsIn(pos, pos + size) : 0;
  return w;
}

inline std::string checkChunkedStream(std::span<const uint8_t> data) {
  const Plan plan = planFrom(data);
  const size_t fdsAtStart = countOpenFds();
  std::string failure;
  {
    std::vector<net::UniqueFd> pool;
    for (size_t i = 0; i < kPoolFds; ++i) {
      pool.emplace_back(::open("/dev/null", O_RDONLY | O_CLOEXEC));
      if (pool.back().get() < 0) return "cannot open /dev/null";
    }
    struct stat devNull {};
    if (::fstat(pool[0].get(), &devNull) != 0) return "fstat /dev/null failed";
    std::vector<int> poolFds;
    for (const auto& fd : pool) poolFds.push_back(fd.get());
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return "socketpair failed";
    net::UniqueFd reader(sv[0]);
    net::UniqueFd writer(sv[1]);
    int one = 1;
    if (::setsockopt(reader.get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof one) != 0) return "SO_PASSCRED failed";
    if (::setsockopt(writer.get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof one) != 0) return "SO_PASSCRED failed";
    const size_t base = countOpenFds();

    std::thread sender([&] { sendChunks(writer.get(), plan, poolFds); });
    std::vector<ReceivedFrame> kept;
    size_t held = 0;
    size_t pos = 0;
    for (size_t index = 0;; ++index) {
      const std::string where = "frame " + std::to_string(index) + " at byte " + std::to_string(pos) + ": ";
      const Want want = reference(plan, pos);
      ReceivedFrame frame;
      ReadStatus got;
      size_t largest = 0;
      {
        testing_support::AllocationMeter meter;
        got = readFrame(reader.get(), frame);
        largest = meter.largest();
      }
      if (got != want.status) {
        failure = where + "readFrame returned " + props::statusName(got) + ", the reference says " +
                  props::statusName(want.status);
        break;
      }
      const size_t restLen = plan.stream.size() - pos;  // all of it arrives before the writer ends
      const size_t arrived = restLen >= kHeaderSize
                                 ? std::min(restLen, std::max<size_t>(props::le32(plan.stream, pos), kHeaderSize))
                                 : restLen;
      if (largest > 2 * arrived + 256) {
        failure = where + "an allocation of " + std::to_string(largest) + " bytes while " + std::to_string(arrived) +
                  " bytes of the frame arrived";
        break;
      }
      if (frame.tooManyFds != want.tooManyFds) {
        failure = where + (want.tooManyFds ? "more fds than the cap, not reported" : "tooManyFds without an excess");
        break;
      }
      if (want.tooManyFds && frame.error != DecodeError::BadPayload) {
        failure = where + "an over-cap frame's error is not BadPayload";
        break;
      }
      if (frame.fds.size() != want.fds) {
        failure = where + std::to_string(frame.fds.size()) + " fds handed out, its chunks carried " +
                  std::to_string(want.fds);
        break;
      }
      if (frame.fds.size() > kMaxFdsPerFrame) {
        failure = where + "more fds than the cap handed out";
        break;
      }
      for (const auto& fd : frame.fds) {
        struct stat st {};
        const int fl = ::fcntl(fd.get(), F_GETFD);
        if (::fstat(fd.get(), &st) != 0 || st.st_rdev != devNull.st_rdev || !S_ISCHR(st.st_mode)) {
          failure = where + "an fd handed out is not the /dev/null sent";
        } else if (fl < 0 || (fl & FD_CLOEXEC) == 0) {
          failure = where + "an fd handed out is not close-on-exec";
        } else {
          for (const auto& k : kept) {
            for (const auto& other : k.fds) {
              if (other.get() == fd.get()) failure = where + "an fd handed out twice";
            }
          }
        }
      }
      if (!failure.empty()) break;
      held += frame.fds.size();
      if (const size_t open = countOpenFds(); open != base + held) {
        failure = where + std::to_string(open) + " fds open, " + std::to_string(base + held) + " expected (" +
                  std::to_string(held) + " handed out)";
        break;
      }
      if (got == ReadStatus::Eof || got == ReadStatus::IoError || got == ReadStatus::Malformed) break;
      if (!frame.credentials.present || frame.credentials.pid != ::getpid() || frame.credentials.uid != ::getuid()) {
        failure = where + "the sender's credentials are missing or wrong";
        break;
      }
      const auto bytes = std::span<const uint8_t>(plan.stream).subspan(pos, want.consumed);
      if (frame.header.size != want.consumed || frame.header.request != props::le64(bytes, 8)) {
        failure = where + "header differs from the frame's bytes";
        break;
      }
      if (got == ReadStatus::Ok) {
        Header h;
        Message m;
        if (decode(bytes, h, m) != DecodeError::None || !(m == frame.message)) {
          failure = where + "the message read is not the one the frame's bytes encode";
          break;
        }
      }
      pos += want.consumed;
      kept.push_back(std::move(frame));
    }
    reader.reset();  // the engine closes the connection; the writer stops
    sender.join();
    kept.clear();
  }
  if (!failure.empty()) return failure;
  if (const size_t open = countOpenFds(); open != fdsAtStart) {
    return "fd leak: " + std::to_string(open) + " fds open after the stream, " + std::to_string(fdsAtStart) + " before";
  }
  return {};
}

// Named inputs for the seed corpus (fuzz/seeds/frame_chunks/) and the replay.
inline std::vector<std::pair<std::string, std::vector<uint8_t>>> seeds() {
  std::vector<std::pair<std::string, std::vector<uint8_t>>> s;
  // flags, frames-1, then per frame kind/request/...; then chunks (sel [u16] [fd byte]).
  // A SocketControlRequest (type 0) with 4 input bytes, in 1-byte chunks, fds on the first.
  s.push_back({"socket_control_fd_then_small_chunks",
               {0, 0, 0, 7, 4, 0, 0xDC, 0, 0, 0x98, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 0x40, 1, 0, 0, 0, 0}});
  // Two frames, fds on chunks of both (4 + 1), credentials explicit.
  s.push_back({"two_frames_fds_in_both", {1, 1, 0, 1, 0, 4, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,
                                          0, 2, 0, 3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,
                                          0x45, 4, 0x50, 0x05, 0x45, 1}});
  // Five fds in one frame, spread over two chunks: refused.
  s.push_back({"five_fds_over_two_chunks", {0, 0, 2, 9, 40, 0, 0x08, 0x48, 3, 0x48, 2}});
  // Seven fds on one chunk (MSG_CTRUNC).
  s.push_back({"seven_fds_one_chunk", {0, 0, 2, 9, 8, 0, 0x48, 7}});
  // A header declaring 1 MiB, 20 bytes following (the buffer must not grow to 1 MiB).
  s.push_back({"declared_megabyte_not_arriving",
               {0, 0, 0x81, 1, 0, 0, 0x10, 0, 20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 0x02}});
  // An unknown type carrying 4 fds (allowed), then a device close.
  s.push_back({"unknown_type_with_fds_then_close", {0, 1, 2, 3, 12, 0x20, 6, 9, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                                     0, 0, 0x47, 4, 0x90, 0, 1}});
  // A malformed header (bad version) in chunk with fds.
  s.push_back({"bad_header_with_fds", {0, 0, 3, 0, 16, 20, 0, 0, 0, 9, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x4F, 2}});
  // A frame cut short mid-header, fds on the last chunk.
  s.push_back({"short_header_fds", {0, 0, 3, 0, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0x03, 0x44, 3}});
  return s;
}

}  // namespace openwfp::control::chunk_props
