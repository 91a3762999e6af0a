// tests/support/sim_fake_classifier.h - a scriptable Classifier for tests of the simulated stack and the
// proxy-side controls that must not depend on the engine: it decides each connect/bind with a
// test-supplied function, can hold classifies pended until the test completes them from another
// thread, and records what the stack told it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "openwfp/openwfp.h"
#include "openwfp/stack.h"
#include "redirect/history.h"
#include "redirect/records.h"

namespace openwfp::testing {

// A permit that leaves the destination unchanged, with a fresh (empty) history as the engine
// gives every permitted connect.
inline ConnectVerdict permitVerdict(const ConnectRequest& request) {
  ConnectVerdict v;
  v.action = Action::Permit;
  v.finalRemote = request.remote;
  v.history = redirect::History::create(request.proxiedRecords);
  Runtime::current().sealer().track(v.history);
  return v;
}

// A local redirect as a callout would apply it: one entry (handle, target PID, original
// destination, optional context bytes owned by the history).
inline ConnectVerdict redirectVerdict(const ConnectRequest& request, const Endpoint& to,
                                      uint32_t targetPid, uint64_t redirectHandle,
                                      const std::string& context = {}) {
  ConnectVerdict v = permitVerdict(request);
  v.finalRemote = to;
  v.redirected = true;
  v.redirectTargetPid = targetPid;
  redirect::Entry e;
  e.redirectHandle = redirectHandle;
  e.targetPid = targetPid;
  e.originalDestination = request.remote;
  e.redirectedTo = to;
  e.filterId = 1;
  redirect::ContextFree freeContext;
  if (!context.empty()) {
    e.context = std::malloc(context.size());
    std::memcpy(e.context, context.data(), context.size());
    e.contextSize = context.size();
    freeContext = [](void* p) { std::free(p); };
  }
  v.history->add(e, freeContext);
  return v;
}

class FakeClassifier : public Classifier {
 public:
  struct Pended {
    ConnectRequest request;
    ConnectVerdict verdict;
    ConnectDone done;
  };

  // Decide a connect / bind. Defaults: permit unchanged.
  std::function<ConnectVerdict(const ConnectRequest&)> onConnect;
  std::function<BindVerdict(const BindRequest&)> onBind;

  // While true, connects are pended: their done is kept until completeOldest()/completeAll().
  void setPend(bool pend) {
    std::lock_guard lock(mu_);
    pend_ = pend;
  }

  void classify(StackHook hook, const StackRequest& request, StackDone done) override {
    if (hook == StackHook::Connect) {
      connectCall(request, std::move(done));
    } else if (hook == StackHook::Bind) {
      bindCall(request, std::move(done));
    } else {
      done(permitUnchanged(request));
    }
  }

  void connectionClosed(const std::shared_ptr<redirect::History>& history) override {
    std::lock_guard lock(mu_);
    closed_.push_back(history);
  }

  // Waits until at least n connects are pended; false on timeout.
  bool waitPended(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return pended_.size() >= n; });
  }
  size_t pendedCount() {
    std::lock_guard lock(mu_);
    return pended_.size();
  }
  // Completes one pended connect (oldest or newest) with its verdict, from the calling thread.
  void complete(bool newest = false) {
    Pended p;
    {
      std::lock_guard lock(mu_);
      if (pended_.empty()) return;
      if (newest) {
        p = std::move(pended_.back());
        pended_.pop_back();
      } else {
        p = std::move(pended_.front());
        pended_.pop_front();
      }
    }
    p.done(p.verdict);
  }

  std::vector<ConnectRequest> connects() {
    std::lock_guard lock(mu_);
    return connects_;
  }
  std::vector<std::thread::id> connectThreads() {
    std::lock_guard lock(mu_);
    return connectThreads_;
  }
  std::vector<BindRequest> binds() {
    std::lock_guard lock(mu_);
    return binds_;
  }
  std::vector<std::shared_ptr<redirect::History>> closed() {
    std::lock_guard lock(mu_);
    return closed_;
  }

 private:
  void connectCall(const ConnectRequest& request, ConnectDone done) {
    ConnectVerdict v = onConnect ? onConnect(request) : permitVerdict(request);
    {
      std::lock_guard lock(mu_);
      connects_.push_back(request);
      connectThreads_.push_back(std::this_thread::get_id());
      if (pend_) {
        pended_.push_back(Pended{request, std::move(v), std::move(done)});
        cv_.notify_all();
        return;
      }
    }
    done(v);
  }

  void bindCall(const BindRequest& request, BindDone done) {
    BindVerdict v;
    if (onBind) {
      v = onBind(request);
    } else {
      v.finalLocal = request.local;
    }
    {
      std::lock_guard lock(mu_);
      binds_.push_back(request);
    }
    done(v);
  }

  std::mutex mu_;
  std::condition_variable cv_;
  bool pend_ = false;
  std::deque<Pended> pended_;
  std::vector<ConnectRequest> connects_;
  std::vector<std::thread::id> connectThreads_;
  std::vector<BindRequest> binds_;
  std::vector<std::shared_ptr<redirect::History>> closed_;
};

inline Endpoint ep(const char* text) {
  auto e = Endpoint::parse(text);
  if (!e) std::abort();
  return *e;
}

}  // namespace openwfp::testing
