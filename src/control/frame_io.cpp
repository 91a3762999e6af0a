// control/frame_io.cpp - frames over a Unix stream socket with SCM_RIGHTS / SCM_CREDENTIALS.
#include "control/frame_io.h"

#include <poll.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <cerrno>
#include <optional>

#include "net/fd_passing.h"

namespace openwfp::control {
namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kQuickRead = 4096;  // bytes a payload read takes without waiting first

// The reads of one frame: its descriptors and credentials, and its deadline once it started.
class FrameReader {
 public:
  FrameReader(int sock, ReceivedFrame& frame, const ReadLimits& limits)
      : sock_(sock),
        frame_(frame),
        limit_(limits.frameDeadline),
        beforeWait_(limits.beforeWait),
        holding_(limits.holding) {}

  // Waits until the socket is readable (until the deadline once the frame started) and returns
  // how many bytes it holds (at least 1: a read then reports EOF or the error), or nullopt when
  // the deadline passed.
  std::optional<size_t> waitReadable(bool needSize = true) {
    for (;;) {
      int timeout = -1;
      if (started_ && limit_.count() > 0) {
        const auto left = deadline_ - Clock::now();
        if (left <= Clock::duration::zero()) return std::nullopt;
        timeout = static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(left).count());
      }
      pollfd p{sock_, POLLIN, 0};
      const int n = ::poll(&p, 1, timeout);
      if (n < 0 && errno == EINTR) continue;
      if (n == 0) continue;  // the deadline is checked again above
      if (!needSize) return 1;
      int avail = 0;
      if (n < 0 || ::ioctl(sock_, FIONREAD, &avail) != 0 || avail <= 0) return 1;
      return static_cast<size_t>(avail);
    }
  }

  // One read into buf (which waitReadable sized). Returns the bytes read (0: EOF), or the status
  // that ends the frame. With dontWait, a socket with nothing to read sets *wouldBlock instead.
  std::optional<ReadStatus> readSome(std::span<uint8_t> buf, size_t& got, bool* wouldBlock = nullptr) {
    net::Ancillary anc;
    // Room for one descriptor more than the frame may still carry, so an excess shows.
    const size_t room = kMaxFdsPerFrame - frame_.fds.size() + 1;
    const ssize_t n = net::receiveWithFds(sock_, buf, room, anc, wouldBlock != nullptr ? MSG_DONTWAIT : 0);
    if (n < 0 && wouldBlock != nullptr && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      *wouldBlock = true;
      got = 0;
      return std::nullopt;
    }
    if (n < 0) return fail(ReadStatus::IoError);
    for (auto& fd : anc.fds) frame_.fds.push_back(std::move(fd));
    if (anc.truncated || frame_.fds.size() > kMaxFdsPerFrame) {
      frame_.tooManyFds = true;
      frame_.error = DecodeError::BadPayload;
      return fail(ReadStatus::Malformed);
    }
    if (anc.credentials && !frame_.credentials.present && n > 0) {
      frame_.credentials.present = true;
      frame_.credentials.pid = anc.credentials->pid;
      frame_.credentials.uid = anc.credentials->uid;
      frame_.credentials.gid = anc.credentials->gid;
    }
    if (n > 0 && !started_) {
      started_ = true;
      deadline_ = Clock::now() + limit_;
    }
    got = static_cast<size_t>(n);
    return std::nullopt;
  }

  // Reads exactly buf.size() bytes into buf; `partial` is what a short read (EOF) means.
  std::optional<ReadStatus> readExactly(std::span<uint8_t> buf, ReadStatus partial) {
    size_t have = 0;
    while (have < buf.size()) {
      // A new frame is waited for with poll (no FIONREAD: the header's size is fixed); the rest
      // of a frame already started is read without waiting first (it comes in one write). With
      // a beforeWait hook that has work (holding) a new frame is also read first without
      // waiting: the hook runs only when there is nothing to read. (A blocking read in place of
      // poll + read measured worse: twice the context switches a message, +10% setup time.)
      size_t n = 0;
      const bool fresh = !started_ && have == 0;
      const bool hook = fresh && beforeWait_ && (!holding_ || holding_());
      bool wouldBlock = fresh && !hook;
      if (!wouldBlock) {
        if (auto st = readSome(buf.subspan(have), n, &wouldBlock)) return st;
      }
      if (wouldBlock) {
        if (hook) beforeWait_();
        if (!waitReadable(false)) return fail(ReadStatus::TimedOut);
        if (auto st = readSome(buf.subspan(have), n)) return st;
      }
      if (n == 0) return fail(have == 0 ? partial : ReadStatus::IoError);
      have += n;
    }
    return std::nullopt;
  }

  // Reads `size` bytes into payload, growing it only by what the socket holds (at most
  // kReadChunk a read).
  std::optional<ReadStatus> readPayload(size_t size, std::vector<uint8_t>& payload) {
    payload.clear();
    bool quick = true;  // the first read: a small payload is usually all there
    while (payload.size() < size) {
      // Without waiting first, through a small buffer (nothing is allocated for bytes the peer
      // has not sent). A large payload goes on with reads sized by what the socket holds.
      if (quick) {
        quick = false;
        uint8_t chunk[kQuickRead];
        bool wouldBlock = false;
        size_t got = 0;
        if (auto st = readSome(std::span(chunk, std::min(sizeof chunk, size - payload.size())), got, &wouldBlock)) {
          return st;
        }
        if (!wouldBlock) {
          if (got == 0) return fail(ReadStatus::IoError);
          payload.insert(payload.end(), chunk, chunk + got);
          continue;
        }
      }
      const auto avail = waitReadable();
      if (!avail) return fail(ReadStatus::TimedOut);
      const size_t have = payload.size();
      payload.resize(have + std::min({*avail, kReadChunk, size - have}));
      size_t n = 0;
      if (auto st = readSome(std::span(payload).subspan(have), n)) return st;
      if (n == 0) return fail(ReadStatus::IoError);
      payload.resize(have + n);
    }
    return std::nullopt;
  }

  ReadStatus fail(ReadStatus st) {
    frame_.fds.clear();  // closes what arrived
    return st;
  }

 private:
  int sock_;
  ReceivedFrame& frame_;
  std::chrono::milliseconds limit_;
  const std::function<void()>& beforeWait_;
  const std::function<bool()>& holding_;
  bool started_ = false;
  Clock::time_point deadline_{};
};

}  // namespace

ReadStatus readFrame(int sock, ReceivedFrame& frame, const ReadLimits& limits) {
  frame = ReceivedFrame{};
  FrameReader reader(sock, frame, limits);
  uint8_t header[kHeaderSize];
  if (auto st = reader.readExactly(header, ReadStatus::Eof)) return *st;
  frame.error = parseHeader(header, frame.header);
  if (frame.error != DecodeError::None && frame.error != DecodeError::UnknownType) {
    return reader.fail(ReadStatus::Malformed);
  }
  std::vector<uint8_t> payload;
  if (auto st = reader.readPayload(frame.header.size - kHeaderSize, payload)) return *st;
  if (frame.error == DecodeError::UnknownType) return ReadStatus::UnknownType;
  frame.error = decodePayload(frame.header, payload, frame.message);
  return frame.error == DecodeError::None ? ReadStatus::Ok : reader.fail(ReadStatus::Malformed);
}

bool writeFrame(int sock, std::span<const uint8_t> frame, int fdToPass) {
  size_t sent = 0;
  int fd = fdToPass;  // sent with the first byte only
  while (sent < frame.size()) {
    ssize_t n = net::sendWithFd(sock, frame.subspan(sent), fd);
    if (n < 0) return false;
    fd = -1;
    sent += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace openwfp::control
