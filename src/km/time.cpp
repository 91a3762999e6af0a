// km/time.cpp - KeQuerySystemTime, KeQueryPerformanceCounter, PsGetCurrentProcessId,
// PsGetCurrentThreadId.
#include <wdm.h>

#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>

#include "km/device_io.h"

namespace {
// 100-ns intervals between 1601-01-01 (the Windows epoch) and 1970-01-01 (the Unix epoch).
constexpr LONGLONG kUnixEpochIn100ns = 116444736000000000LL;
// The performance counter counts nanoseconds of the steady clock.
constexpr LONGLONG kPerformanceFrequency = 1000000000LL;
}  // namespace

extern "C" {

void NTAPI KeQuerySystemTime(PLARGE_INTEGER CurrentTime) {
  if (CurrentTime == nullptr) return;
  const auto sinceUnix = std::chrono::system_clock::now().time_since_epoch();
  CurrentTime->QuadPart =
      kUnixEpochIn100ns + std::chrono::duration_cast<std::chrono::duration<LONGLONG, std::ratio<1, 10000000>>>(sinceUnix).count();
}

LARGE_INTEGER NTAPI KeQueryPerformanceCounter(PLARGE_INTEGER PerformanceFrequency) {
  if (PerformanceFrequency != nullptr) PerformanceFrequency->QuadPart = kPerformanceFrequency;
  LARGE_INTEGER now;
  now.QuadPart = std::chrono::duration_cast<std::chrono::nanoseconds>(
                     std::chrono::steady_clock::now().time_since_epoch())
                     .count();
  return now;
}

// Inside a dispatch routine: the process that sent the request (km/device_io.h).
HANDLE NTAPI PsGetCurrentProcessId(void) {
  const uint64_t requestor = openwfp::km::currentRequestorPid();
  return reinterpret_cast<HANDLE>(static_cast<uintptr_t>(requestor != 0 ? requestor : static_cast<uint64_t>(getpid())));
}

HANDLE NTAPI PsGetCurrentThreadId(void) {
  return reinterpret_cast<HANDLE>(static_cast<uintptr_t>(syscall(SYS_gettid)));
}

}  // extern "C"
