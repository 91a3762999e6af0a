// control/frame_io.cpp - frames over a Unix stream socket with SCM_RIGHTS / SCM_CREDENTIALS.
#include "control/frame_io.h"

#include "net/fd_passing.h"

namespace openwfp::control {
namespace {

// Reads exactly buf.size() bytes, collecting ancillary data. Returns the bytes read before EOF
// or an error (n < buf.size()), or -1 on a read error. *truncated is set on MSG_CTRUNC.
ssize_t readAll(int sock, std::span<uint8_t> buf, ReceivedFrame& frame, bool& truncated) {
  size_t got = 0;
  while (got < buf.size()) {
    net::Ancillary anc;
    ssize_t n = net::receiveWithFds(sock, buf.subspan(got), kMaxFdsPerFrame, anc);
    if (n < 0) return -1;
    if (anc.truncated) truncated = true;
    for (auto& fd : anc.fds) frame.fds.push_back(std::move(fd));
    if (anc.credentials && !frame.credentials.present && n > 0) {
      frame.credentials.present = true;
      frame.credentials.pid = anc.credentials->pid;
      frame.credentials.uid = anc.credentials->uid;
      frame.credentials.gid = anc.credentials->gid;
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
