// control/frame_io.h - reading and writing control channel frames on a Unix stream socket, with
// the file descriptor a socket control carries (SCM_RIGHTS) and the kernel's credentials of the
// sender (SCM_CREDENTIALS, present when the reading socket has SO_PASSCRED).
//
// Bounds (S14.9): the payload buffer grows as bytes arrive (at most kReadChunk more than what is
// already there, and never more than the socket holds), so a declared size costs nothing until
// its bytes come; the descriptors of one frame are counted across all its reads, and the moment
// they exceed kMaxFdsPerFrame they are closed and the frame is malformed; with a deadline, the
// rest of a frame must arrive within it once its first byte has (the wait before a frame's
// first byte is never bounded).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <cstdint>
#include <span>
#include <vector>

#include "control/protocol.h"
#include "net/unique_fd.h"

namespace openwfp::control {

inline constexpr size_t kMaxFdsPerFrame = 4;  // more are closed and the frame is malformed
inline constexpr size_t kReadChunk = 64 * 1024;  // the most one read adds to a payload buffer

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
  bool tooManyFds = false;  // Malformed because the frame carried more than kMaxFdsPerFrame fds
};

struct ReadLimits {
  // 0: none. Else the whole frame must have arrived this long after its first byte did.
  std::chrono::milliseconds frameDeadline{0};
  // Called when no byte of a new frame is there yet, before waiting for one (a server writes the
  // replies it held back while more requests were already waiting, see server.cpp).
  std::function<void()> beforeWait;
  // Whether beforeWait has anything to do (unset: always). Without work, a new frame is waited
  // for with poll at once, not first read without waiting (which would fail: one syscall less).
  std::function<bool()> holding;
};

enum class ReadStatus {
  Ok,
  Eof,          // orderly close before a frame started
  IoError,      // read error, or the peer closed inside a frame
  Malformed,    // the frame failed a check (frame.error says which); close the connection
  UnknownType,  // a well-formed frame of an unknown type (its payload was consumed)
  TimedOut,     // the frame did not complete within limits.frameDeadline; close the connection
};

// Reads one whole frame (blocking; EINTR is retried). On any status but Ok and UnknownType,
// frame.fds is empty (what arrived was closed).
ReadStatus readFrame(int sock, ReceivedFrame& frame, const ReadLimits& limits = {});

// Writes the whole frame (MSG_NOSIGNAL); fdToPass >= 0 is sent with the first byte.
// Returns false when the connection failed.
bool writeFrame(int sock, std::span<const uint8_t> frame, int fdToPass = -1);

}  // namespace openwfp::control
