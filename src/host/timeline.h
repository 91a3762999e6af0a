// host/timeline.h - lines stamped with CLOCK_MONOTONIC nanoseconds, so that processes of one
// demo (engine, proxy, clients) can be merged into one timeline. Format: "@<ns> <text>".
#pragma once

#include <cstdint>
#include <ctime>
#include <string>

namespace openwfp::host {

inline int64_t monotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// "@<ns> text" when OPENWFP_STAMP_LINES is set in the environment, else text unchanged.
std::string stampLine(const std::string& text);

// Parses "@<ns> text"; returns false (ns = 0, text = line) for an unstamped line.
bool parseStampedLine(const std::string& line, int64_t& ns, std::string& text);

}  // namespace openwfp::host
