// openwfp/trace.h - one record per classify (S4.5, S11.3), printable as text or as a JSON line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace openwfp::trace {

struct FilterStep {
  uint64_t filterId = 0;
  std::string filterName;
  uint16_t subLayerWeight = 0;
  uint64_t weight = 0;
  std::string kind;     // "permit", "block", "callout"
  std::string callout;  // callout key/name when a callout ran
  std::string result;   // "PERMIT", "BLOCK", "CONTINUE", "PENDED", "UNREGISTERED->BLOCK", ...
  std::string note;     // free text: veto, hard permit, skipped inspection, ...
};

struct Modification {
  uint64_t filterId = 0;
  std::string what;  // e.g. "remote 127.0.0.2:80 -> 127.0.0.1:9000, targetPID 42, handle 0x101"
};

struct ClassifyRecord {
  uint64_t id = 0;            // classify id
  std::string layer;          // "ALE_CONNECT_REDIRECT_V4", ...
  uint64_t pid = 0;
  std::string app;            // image path
  uint32_t uid = 0;
  std::string protocol;       // "tcp"/"udp"
  std::string local, remote;  // endpoints as text
  std::vector<std::string> flags;  // condition flags set, e.g. "IS_PROXY_CONNECTION"
  std::vector<FilterStep> filters;
  std::vector<Modification> modifications;
  std::string redirectState;  // for proxy connections: what the records say
  int64_t startNs = 0, pendNs = 0, completeNs = 0, endNs = 0;  // steady-clock ns; 0 = n/a
  std::string verdict;        // "PERMIT"/"BLOCK"
  std::string finalDestination;
  std::vector<std::string> reasons;  // e.g. "redirect not applied: localRedirectHandle not set"

  std::string toText() const;
  std::string toJsonLine() const;
};

// Collects records and forwards them to sinks (CLI printer, files, tests).
class Tracer {
 public:
  static constexpr size_t kRecentCapacity = 4096;
  using Sink = std::function<void(const ClassifyRecord&)>;
  void addSink(Sink s);
  void clearSinks();
  void emit(const ClassifyRecord& r);
  std::vector<ClassifyRecord> recent() const;  // last N records (N = 4096)
  void clear();

 private:
  mutable std::mutex mu_;  // guards sinks_ and recent_
  std::vector<Sink> sinks_;
  std::vector<ClassifyRecord> recent_;  // ring buffer of at most kRecentCapacity records
  size_t next_ = 0;                      // slot the next record overwrites once recent_ is full
};

}  // namespace openwfp::trace
