// linux/fd_limit.cpp - the soft RLIMIT_NOFILE of the supervising process (S13.9).
#include "linux/fd_limit.h"

#include <mutex>

namespace openwfp::linux_backend {
namespace {

std::mutex gMu;
bool gRaised = false;
rlimit gOriginal{};

}  // namespace

void raiseFdLimit() {
  std::lock_guard lock(gMu);
  rlimit now{};
  if (::getrlimit(RLIMIT_NOFILE, &now) != 0) return;
  if (gRaised && now.rlim_cur == now.rlim_max) return;  // raised already (and not lowered since)
  gOriginal = now;
  gRaised = true;
  if (now.rlim_cur < now.rlim_max) {
    rlimit raised = now;
    raised.rlim_cur = now.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &raised);  // failing leaves the limit as it was: nothing to undo
  }
}

rlimit originalFdLimit() {
  std::lock_guard lock(gMu);
  if (gRaised) return gOriginal;
  rlimit now{};
  ::getrlimit(RLIMIT_NOFILE, &now);
  return now;
}

}  // namespace openwfp::linux_backend
