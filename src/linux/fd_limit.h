// linux/fd_limit.h - the supervisor holds a pidfd per cached task, a duplicate per call in
// flight and the sockets of connects it performs: its soft RLIMIT_NOFILE is raised to the hard
// limit at start (S13.9). The supervised COMMAND gets the soft limit back before exec: the
// application sees the limits it was started with.
#pragma once

#include <sys/resource.h>

namespace openwfp::linux_backend {

// Raises the soft limit to the hard one and remembers the limit it found; a later call does
// nothing unless the soft limit was lowered again meanwhile.
void raiseFdLimit();
// The limit as it was before raiseFdLimit() (the current one if it was never called).
rlimit originalFdLimit();

}  // namespace openwfp::linux_backend
