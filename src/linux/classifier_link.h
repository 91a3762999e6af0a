// linux/classifier_link.h - the Interceptor's reference to its Classifier. The Interceptor's
// parts can outlive it (a pended classify keeps its call, and with it the parts, alive), so the
// reference is cleared when the Interceptor goes; later reports are dropped.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include "openwfp/stack.h"

namespace openwfp::linux_backend {

class ClassifierLink {
 public:
  explicit ClassifierLink(Classifier& classifier) : classifier_(&classifier) {}

  // For the notification workers only: they are joined before clear(), so no lock is needed
  // (and a done() run inline from the classify may report closed connections, taking mu_).
  Classifier* forWorkers() const { return classifier_; }

  // Classifier::connectionClosed for each non-null history, from any thread; counts each one in
  // `reported` (also after clear(), when nothing is reported).
  void connectionsClosed(const std::vector<std::shared_ptr<redirect::History>>& histories,
                         std::atomic<uint64_t>& reported) {
    std::shared_lock lock(mu_);
    for (const auto& h : histories) {
      if (!h) continue;
      reported.fetch_add(1, std::memory_order_relaxed);
      if (classifier_ != nullptr) classifier_->connectionClosed(h);
    }
  }

  // The Interceptor is going: no more reports.
  void clear() {
    std::unique_lock lock(mu_);
    classifier_ = nullptr;
  }

 private:
  std::shared_mutex mu_;     // guards classifier_ against clear() (readers: connectionsClosed)
  Classifier* classifier_;   // null once the Interceptor is gone
};

}  // namespace openwfp::linux_backend
