#include "host/timeline.h"

#include <cstdlib>

namespace openwfp::host {

std::string stampLine(const std::string& text) {
  static const bool stamp = std::getenv("OPENWFP_STAMP_LINES") != nullptr;
  if (!stamp) return text;
  return "@" + std::to_string(monotonicNs()) + " " + text;
}

bool parseStampedLine(const std::string& line, int64_t& ns, std::string& text) {
  ns = 0;
  text = line;
  if (line.size() < 3 || line[0] != '@') return false;
  size_t space = line.find(' ');
  if (space == std::string::npos || space == 1) return false;
  int64_t v = 0;
  for (size_t i = 1; i < space; ++i) {
    if (line[i] < '0' || line[i] > '9' || v > (INT64_MAX - 9) / 10) return false;
    v = v * 10 + (line[i] - '0');
  }
  ns = v;
  text = line.substr(space + 1);
  return true;
}

}  // namespace openwfp::host
