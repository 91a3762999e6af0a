// winsock/control_rules.h - the S9 rules over a SocketBackend (socket_backend.h), written once
// for every backend: the sim stack, the OS fallback, and the engine side of the control channel.
#pragma once

#include "winsock/socket_backend.h"

namespace openwfp::redirect {
class RecordsSealer;
}

namespace openwfp::winsock {

// The S9 rules, shared by every backend (see include/openwfp/winsock.h for the error table):
//   QUERY_RECORDS / QUERY_CONTEXT: not a socket -> ENOTSOCK; not connected -> ENOTCONN; no
//     history or an empty one (not redirected) -> ENOENT; caller != redirect target PID (or no
//     target) -> EACCES; QUERY_CONTEXT without a context -> ENOENT; NULL or short output
//     buffer -> ENOBUFS with the required size in *returned; otherwise the sealed records / the
//     context bytes are copied and *returned = their size. The input buffer is ignored.
//   SET_RECORDS: not a socket -> ENOTSOCK; out_len != 0 -> EINVAL; connecting or connected ->
//     EISCONN; listening -> EINVAL; in == NULL with in_len != 0 -> EFAULT; a blob that does not
//     open (truncated, bad version, bad MAC, empty) -> EINVAL; records not issued to the caller
//     (caller != the target PID of their newest entry, S14.9) -> EACCES; otherwise attachRecords();
//     *returned = 0.
//   Any other code -> EOPNOTSUPP.
// Returns 0 or an errno value; never throws.
int applyControlRules(SocketBackend& backend, int fd, const ControlCall& call,
                      const redirect::RecordsSealer& sealer);

}  // namespace openwfp::winsock
