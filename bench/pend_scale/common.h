// bench/pend_scale/common.h - what the phases of bench/pend_scale share: clocks, resident memory
// from /proc, and the one-line result each phase process prints for the driver to parse.
// Includes no socket header (engine_phase.cpp uses the km headers, which define their own).
#pragma once

#include <malloc.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>

namespace pend_scale {

// CLOCK_MONOTONIC nanoseconds: comparable between the processes of one run.
inline int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

inline double msBetween(int64_t from, int64_t to) { return static_cast<double>(to - from) / 1e6; }

struct Memory {
  long rssKb = -1;  // VmRSS
  long hwmKb = -1;  // VmHWM: peak resident set
};

// /proc/self/status (pid 0) or /proc/PID/status; -1 fields when unreadable. For this process the
// allocator first gives free heap pages back (malloc_trim), so that VmRSS counts memory in use,
// not what freed transients (a sock_diag scan, finished calls) happened to leave resident.
inline Memory readMemory(pid_t pid = 0) {
  char path[64];
  if (pid == 0) {
    ::malloc_trim(0);
    std::snprintf(path, sizeof path, "/proc/self/status");
  } else {
    std::snprintf(path, sizeof path, "/proc/%d/status", static_cast<int>(pid));
  }
  Memory m;
  std::FILE* f = std::fopen(path, "re");
  if (f == nullptr) return m;
  char line[256];
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, "VmRSS:", 6) == 0) m.rssKb = std::strtol(line + 6, nullptr, 10);
    if (std::strncmp(line, "VmHWM:", 6) == 0) m.hwmKb = std::strtol(line + 6, nullptr, 10);
  }
  std::fclose(f);
  return m;
}

// Bytes of resident memory per item between two readings (may be slightly negative: the
// allocator returns memory too).
inline double bytesPer(const Memory& before, const Memory& after, int n) {
  return static_cast<double>(after.rssKb - before.rssKb) * 1024.0 / static_cast<double>(n);
}

// A phase's figures: printed as one "RESULT key=value ..." line on stdout.
using Figures = std::map<std::string, double>;

inline void printResult(const Figures& f) {
  std::string line = "RESULT";
  for (const auto& [k, v] : f) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.6f", v);
    line += " " + k + "=" + buf;
  }
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

// Engine level (engine_phase.cpp): n classifies at ALE_CONNECT_REDIRECT_V4 through the Runtime
// with a callout driver that pends each one (pend = true) or redirects inline. Prints RESULT;
// returns the process exit code.
int runEnginePhase(bool pend, int n);

}  // namespace pend_scale
