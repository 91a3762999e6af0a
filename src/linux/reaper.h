// linux/reaper.h - finds the remembered connections that ended (sock_diag scans, every
// reapIntervalMs and on demand) and reports every ended connection's history to the
// classifier (Classifier::connectionClosed), wherever it was found ended. The periodic scans
// fall on a grid of the interval, so the reapers of one process share each dump.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "linux/classifier_link.h"
#include "linux/connection_table.h"
#include "linux/flow_cache.h"
#include "linux/interceptor_counters.h"

namespace openwfp::linux_backend {

class Reaper {
 public:
  Reaper(ConnectionTable& table, FlowCache& flows, ClassifierLink& classifier,
         InterceptorCounters& counters, unsigned intervalMs)
      : table_(table), flows_(flows), classifier_(classifier), counters_(counters),
        intervalMs_(intervalMs) {}

  void start();  // the scanning thread
  void stop();   // joins it

  // Scans now: applies a sock_diag listing of the families/protocols in use to the table, and
  // drops the UDP flows of sockets that are gone.
  void scan();
  // The same with listings that began at or after notBefore: the shared listings of the
  // process's other reapers when they scanned at the same moment (SharedSocketListings).
  void scan(std::chrono::steady_clock::time_point notBefore);
  // ConnectionTable::find; when the tuple is not known yet, waits (at most kResolveWait) for a
  // connect being performed to `remote` to return, then resolves continued connects by a scan
  // (at most one per 2 ms).
  std::optional<ConnectionInfo> find(const Endpoint& local, const Endpoint& remote);
  static constexpr auto kResolveWait = std::chrono::milliseconds(50);

  // Reports ended connections (null histories are skipped), from any thread.
  void reportClosed(const std::vector<std::shared_ptr<redirect::History>>& histories);
  void reportClosed(std::shared_ptr<redirect::History> history);

 private:
  void run();

  ConnectionTable& table_;
  FlowCache& flows_;
  ClassifierLink& classifier_;
  InterceptorCounters& counters_;
  const unsigned intervalMs_;

  std::atomic<bool> stopping_{false};
  std::mutex mu_;  // guards lastLookupScan_; with cv_ wakes the scanning thread to stop
  std::condition_variable cv_;
  std::chrono::steady_clock::time_point lastLookupScan_{};
  std::thread thread_;  // started by start(), joined by stop() (both from Interceptor's lifecycle)
};

}  // namespace openwfp::linux_backend
