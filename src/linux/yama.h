// linux/yama.h - the Yama LSM's ptrace restriction, which also governs pidfd_getfd and
// process_vm_readv on supervised processes.
#pragma once

namespace openwfp::linux_backend {

// /proc/sys/kernel/yama/ptrace_scope: 0..3, or -1 when Yama is not there.
int yamaPtraceScope();

}  // namespace openwfp::linux_backend
