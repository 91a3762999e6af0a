// control/own_pid.h - this process's id, without a system call each time it is checked.
//
// The client side of the channel checks before each request that it runs in the process that
// opened the connection (a forked child has a copy of the parent's connection and must not use
// it). getpid() is a system call (glibc caches nothing), about 1 us on a VM, once per request.
// ownPid() keeps the id in a page marked MADV_WIPEONFORK: the kernel gives a child of any fork
// (fork(), or clone() without CLONE_VM, which runs no atfork handler) that page zeroed, so the
// child reads 0 and asks the kernel once. A process that shares the memory (a thread, or clone()
// with CLONE_VM) reads its creator's id: it also shares its creator's locks, so a connection is
// as safe to use there as in another thread. Where the page cannot be had (madvise before Linux
// 4.14), every call is a getpid().
#pragma once

#include <sys/types.h>

namespace openwfp::control {

pid_t ownPid();

}  // namespace openwfp::control
