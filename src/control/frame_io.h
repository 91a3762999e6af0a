// control/frame_io.h - reading and writing control channel frames on a Unix stream socket, with
// the file descriptor a socket control carries (SCM_RIGHTS) and the kernel's credentials of the
// sender (SCM_CREDENTIALS, present when the reading socket has SO_PASSCRED).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <vector>

#include "control/protocol.h"
#include "net/unique_fd.h"

namespace openwfp::control {

inline constexpr size_t kMaxFdsPerFrame = 4;  // more are closed and the frame is malformed

struct SenderCredentials {
  bool present = false;
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

struct ReceivedFrame {
  Header header;
  Message message;
  std::vector<net::UniqueFd> fds;  // received with the frame (MSG_CMSG_CLOEXEC)
  SenderCredentials credentials;             // of the frame's first bytes
  DecodeError error = DecodeError::None;
};

enum class ReadStatus {
  Ok,
  Eof,          // orderly close before a frame started
  IoError,      // read error, or the peer closed inside a frame
  Malformed,    // the frame failed a check (frame.error says which); close the connection
  UnknownType,  // a well-formed frame of an unknown type (its payload was consumed)
};

// Reads one whole frame (blocking; EINTR is retried).
ReadStatus readFrame(int sock, ReceivedFrame& frame);

// Writes the whole frame (MSG_NOSIGNAL); fdToPass >= 0 is sent with the first byte.
// Returns false when the connection failed.
bool writeFrame(int sock, std::span<const uint8_t> frame, int fdToPass = -1);

}  // namespace openwfp::control
