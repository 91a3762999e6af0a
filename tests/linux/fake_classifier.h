// tests/linux/fake_classifier.h - a Classifier for the real-process tests, standing in for the
// engine: redirects, blocks, times out or pends connects by exact destination, redirects binds,
// permits the rest, and records every request it saw.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "openwfp/stack.h"
#include "redirect/history.h"

namespace openwfp::realtest {

struct FakePolicy {
  std::vector<std::pair<Endpoint, Endpoint>> connectRedirects;  // from -> to
  std::vector<std::pair<Endpoint, Endpoint>> bindRedirects;     // asked -> final local
  std::vector<Endpoint> blocked;
  std::vector<Endpoint> timedOut;  // answered BLOCK with timedOut (a pend deadline, S6.4)
  std::vector<Endpoint> pended;    // answered later from another thread
  int pendMs = 300;
  std::vector<Endpoint> slow;      // answered inline, but only after sleeping pendMs
  uint32_t redirectTargetPid = 0;
};

struct SeenConnect {
  ConnectRequest request;
  ConnectVerdict verdict;
};
struct SeenBind {
  BindRequest request;
  BindVerdict verdict;
};

inline std::string protoName(Protocol p) { return p == Protocol::Tcp ? "tcp" : "udp"; }

inline std::string reportLine(const SeenConnect& s) {
  std::ostringstream o;
  o << "connect pid=" << s.request.process.pid << " uid=" << s.request.process.uid
    << " image=" << s.request.process.imagePath << " proto=" << protoName(s.request.protocol)
    << " local=" << s.request.local.str() << " remote=" << s.request.remote.str()
    << " action=" << (s.verdict.action == Action::Permit ? "permit" : "block")
    << " final=" << s.verdict.finalRemote.str() << " cookie=" << s.request.socketId;
  return o.str();
}

inline std::string reportLine(const SeenBind& s) {
  std::ostringstream o;
  o << "bind pid=" << s.request.process.pid << " uid=" << s.request.process.uid
    << " image=" << s.request.process.imagePath << " proto=" << protoName(s.request.protocol)
    << " local=" << s.request.local.str()
    << " action=" << (s.verdict.action == Action::Permit ? "permit" : "block")
    << " final=" << s.verdict.finalLocal.str() << " cookie=" << s.request.socketId;
  return o.str();
}

class FakeClassifier : public Classifier {
 public:
  explicit FakeClassifier(FakePolicy policy = {}) : policy_(std::move(policy)) {}
  ~FakeClassifier() override {
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mu_);
      threads.swap(pendThreads_);
    }
    for (auto& t : threads) t.join();
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
    cv_.notify_all();
  }

  std::vector<SeenConnect> connects() const {
    std::lock_guard lock(mu_);
    return connects_;
  }
  std::vector<SeenBind> binds() const {
    std::lock_guard lock(mu_);
    return binds_;
  }
  std::vector<std::shared_ptr<redirect::History>> closed() const {
    std::lock_guard lock(mu_);
    return closed_;
  }
  // Waits until pred() holds (checked under the lock) or the timeout passes.
  template <class Pred>
  bool waitFor(std::chrono::milliseconds timeout, Pred pred) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return pred(connects_, binds_, closed_); });
  }

 private:
  void connectCall(const ConnectRequest& request, ConnectDone done) {
    ConnectVerdict v;
    v.finalRemote = request.remote;
    bool pend = false;
    if (contains(policy_.blocked, request.remote)) {
      v.action = Action::Block;
      v.reason = "blocked by the test policy";
    } else if (contains(policy_.timedOut, request.remote)) {
      v.action = Action::Block;
      v.timedOut = true;
    } else {
      for (const auto& [from, to] : policy_.connectRedirects) {
        if (from == request.remote) {
          v.finalRemote = to;
          v.redirected = true;
          v.redirectTargetPid = policy_.redirectTargetPid;
        }
      }
      v.history = redirect::History::create();
      pend = contains(policy_.pended, request.remote);
      if (contains(policy_.slow, request.remote)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(policy_.pendMs));
      }
    }
    {
      std::lock_guard lock(mu_);
      connects_.push_back({request, v});
      cv_.notify_all();
    }
    if (!pend) {
      done(v);
      return;
    }
    std::lock_guard lock(mu_);
    pendThreads_.emplace_back([done = std::move(done), v, ms = policy_.pendMs] {
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
      done(v);
    });
  }

  void bindCall(const BindRequest& request, BindDone done) {
    BindVerdict v;
    v.finalLocal = request.local;
    if (contains(policy_.blocked, request.local)) {
      v.action = Action::Block;
    } else {
      for (const auto& [from, to] : policy_.bindRedirects) {
        if (from == request.local) {
          v.finalLocal = to;
          v.redirected = true;
        }
      }
    }
    {
      std::lock_guard lock(mu_);
      binds_.push_back({request, v});
      cv_.notify_all();
    }
    done(v);
  }

  static bool contains(const std::vector<Endpoint>& list, const Endpoint& ep) {
    for (const Endpoint& e : list) {
      if (e == ep) return true;
    }
    return false;
  }

  FakePolicy policy_;
  mutable std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  std::vector<SeenConnect> connects_;
  std::vector<SeenBind> binds_;
  std::vector<std::shared_ptr<redirect::History>> closed_;
  std::vector<std::thread> pendThreads_;
};

}  // namespace openwfp::realtest
