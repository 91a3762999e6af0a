// control/own_pid.cpp - see own_pid.h.
#include "control/own_pid.h"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <new>

namespace openwfp::control {

namespace {

// The page, or nullptr when it is not wiped on fork (then nothing is cached).
std::atomic<pid_t>* cachedSlot() {
  static std::atomic<pid_t>* const slot = [] () -> std::atomic<pid_t>* {
    const long pageSize = ::sysconf(_SC_PAGESIZE);
    const size_t len = pageSize > 0 ? static_cast<size_t>(pageSize) : 4096;
    void* page = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) return nullptr;
    if (::madvise(page, len, MADV_WIPEONFORK) != 0) {
      ::munmap(page, len);
      return nullptr;
    }
    return new (page) std::atomic<pid_t>(0);  // lives as long as the process
  }();
  return slot;
}

}  // namespace

pid_t ownPid() {
  std::atomic<pid_t>* slot = cachedSlot();
  if (slot == nullptr) return ::getpid();
  pid_t pid = slot->load(std::memory_order_relaxed);
  if (pid == 0) {
    pid = ::getpid();
    slot->store(pid, std::memory_order_relaxed);
  }
  return pid;
}

}  // namespace openwfp::control
