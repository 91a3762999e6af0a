// linux/call_decoder.h - turns a notified call into the request the classifier is asked
// (S13.1, S13.2, S13.4): the call's sockaddr (read from the task's memory), the process facts
// (TaskCache), the process's socket (pidfd_getfd) and its domain, type, protocol, local address
// and cookie. Calls that are not TCP/UDP over IP are answered here "continue" (the kernel runs or
// fails them), calls that cannot be inspected fail closed; execve/setuid notifications only make
// the task cache forget the task.
#pragma once

#include <chrono>
#include <optional>

#include "linux/connection_table.h"
#include "linux/interceptor_counters.h"
#include "linux/notification_loop.h"
#include "linux/performer.h"
#include "linux/syscalls.h"
#include "linux/task_cache.h"
#include "linux/tree_guard.h"
#include "openwfp/stack.h"

namespace openwfp::linux_backend {

struct DecodedCall {
  CallFacts facts;       // for the performer
  StackHook hook = StackHook::Connect;  // what the classifier is asked (by facts.kind)
  StackRequest request;
  // SO_SNDTIMEO of a blocking socket's connect (0: none): bounds a pended call (S13.10,
  // call_deadlines.h).
  std::chrono::microseconds sendTimeout{0};
};

class CallDecoder {
 public:
  CallDecoder(NotificationLoop& loop, TaskCache& tasks, ConnectionTable& table,
              InterceptorCounters& counters)
      : loop_(loop), tasks_(tasks), table_(table), counters_(counters) {}

  // On the worker that received n. std::nullopt: the call has been answered already (or went
  // away meanwhile); otherwise it must be classified and answered.
  std::optional<DecodedCall> decode(const seccomp_notif& n);
  // Signals aimed at the supervisor and 32-bit execs are answered by the guard (S13.8).
  void setGuard(TreeGuard* guard) { guard_ = guard; }

 private:
  // All thread-safe; they outlive the decoder (the Interceptor's parts live together).
  NotificationLoop& loop_;
  TaskCache& tasks_;
  ConnectionTable& table_;
  InterceptorCounters& counters_;
  TreeGuard* guard_ = nullptr;  // set before the workers start
};

}  // namespace openwfp::linux_backend
