// linux/control_io.cpp - frames over a Unix stream socket with SCM_RIGHTS / SCM_CREDENTIALS.
#include "linux/control_io.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace openwfp::control {
namespace {

// Reads exactly buf.size() bytes, collecting ancillary data. Returns the bytes read before EOF
// or an error (n < buf.size()), or -1 on a read error. *truncated is set on MSG_CTRUNC.
ssize_t readAll(int sock, std::span<uint8_t> buf, ReceivedFrame& frame, bool& truncated) {
  size_t got = 0;
  while (got < buf.size()) {
    iovec iov{buf.data() + got, buf.size() - got};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFdsPerFrame) + CMSG_SPACE(sizeof(ucred))];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if ((msg.msg_flags & MSG_CTRUNC) != 0) truncated = true;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET) continue;
      if (c->cmsg_type == SCM_RIGHTS && c->cmsg_len >= CMSG_LEN(0)) {
        const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; ++i) {
          int fd;
          std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
          frame.fds.emplace_back(fd);
        }
      } else if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len == CMSG_LEN(sizeof(ucred)) &&
                 !frame.credentials.present && n > 0) {
        ucred cred{};
        std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
        frame.credentials.present = true;
        frame.credentials.pid = cred.pid;
        frame.credentials.uid = cred.uid;
        frame.credentials.gid = cred.gid;
      }
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  return static_cast<ssize_t>(got);
}

}  // namespace

ReadStatus readFrame(int sock, ReceivedFrame& frame) {
  frame = ReceivedFrame{};
  bool truncated = false;
  uint8_t header[kHeaderSize];
  ssize_t n = readAll(sock, header, frame, truncated);
  if (n < 0) return ReadStatus::IoError;
  if (n == 0) return ReadStatus::Eof;
  if (static_cast<size_t>(n) < kHeaderSize) return ReadStatus::IoError;
  frame.error = parseHeader(header, frame.header);
  if (frame.error != DecodeError::None && frame.error != DecodeError::UnknownType) return ReadStatus::Malformed;
  std::vector<uint8_t> payload(frame.header.size - kHeaderSize);
  n = readAll(sock, payload, frame, truncated);
  if (n < 0 || static_cast<size_t>(n) < payload.size()) return ReadStatus::IoError;
  if (truncated || frame.fds.size() > kMaxFdsPerFrame) {
    frame.error = DecodeError::BadPayload;
    return ReadStatus::Malformed;
  }
  if (frame.error == DecodeError::UnknownType) return ReadStatus::UnknownType;
  frame.error = decodePayload(frame.header, payload, frame.message);
  return frame.error == DecodeError::None ? ReadStatus::Ok : ReadStatus::Malformed;
}

bool writeFrame(int sock, std::span<const uint8_t> frame, int fdToPass) {
  size_t sent = 0;
  bool fdSent = fdToPass < 0;
  while (sent < frame.size()) {
    iovec iov{const_cast<uint8_t*>(frame.data()) + sent, frame.size() - sent};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (!fdSent) {
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(c), &fdToPass, sizeof fdToPass);
    }
    ssize_t n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    fdSent = true;
    sent += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace openwfp::control
