// linux/call_decoder.h - turns a notified call into what the classifier is asked and the
// performer needs (S13.1, S13.2, S13.4, S13.7): the process facts (TaskCache), the process's
// socket (pidfd_getfd) and what it is (domain, type, protocol, local address, cookie), the call's
// sockaddr, message heads and first name (read from the task's memory).
//
// Only two kinds of calls are answered "continue" (the kernel runs them as the task asks, re-
// reading its memory and its fd table): those the kernel fails whatever memory holds (an
// address length out of range, a zero-message sendmmsg), and calls on a socket that is not
// TCP/UDP over IP: a non-IP address given to a non-IP socket (AF_UNIX connects must run in the
// application's own context: path lookup, SO_PEERCRED), sends on non-IP or non-TCP/UDP sockets,
// and sends without MSG_FASTOPEN on TCP. Residual (S13.7): between our look and the kernel's, a
// second thread can dup2() a TCP/UDP socket onto the fd AND rewrite the address (or msg_name) to
// an IP one; the kernel then runs that call unclassified. Every other call is classified and/or
// performed by the supervisor (performer.h), or answered with an errno here. Nothing is dropped
// unless the kernel says the notification is no longer valid (S13.9).
#pragma once

#include <optional>

#include "linux/connection_table.h"
#include "linux/flow_cache.h"
#include "linux/interceptor_counters.h"
#include "linux/notification_loop.h"
#include "linux/performer.h"
#include "linux/syscalls.h"
#include "linux/task_cache.h"
#include "linux/tree_guard.h"
#include "openwfp/stack.h"

namespace openwfp::linux_backend {

struct DecodedCall {
  CallFacts facts;  // for the performer
  bool ask = true;  // false: performed without a verdict (Performer::perform)
  StackHook hook = StackHook::Connect;  // what the classifier is asked
  StackRequest request;
};

class CallDecoder {
 public:
  CallDecoder(NotificationLoop& loop, TaskCache& tasks, ConnectionTable& table, FlowCache& flows,
              InterceptorCounters& counters)
      : loop_(loop), tasks_(tasks), table_(table), flows_(flows), counters_(counters) {}

  // On the worker that received n. std::nullopt: the call has been answered already (or went
  // away meanwhile); otherwise it must be classified (ask) or performed, and answered.
  std::optional<DecodedCall> decode(const seccomp_notif& n);
  // Signals aimed at the supervisor and 32-bit execs are answered by the guard (S13.8).
  void setGuard(TreeGuard* guard) { guard_ = guard; }

 private:
  // A failed read of the task's memory: EFAULT as the kernel would say, ESRCH only if the kernel
  // agrees the call is gone, anything else fails closed.
  void answerReadFailure(const seccomp_notif& n, int err, const char* what);
  bool decodeAddressCall(const seccomp_notif& n, DecodedCall& d);
  bool decodeSend(const seccomp_notif& n, DecodedCall& d);
  bool decodeFastOpen(const seccomp_notif& n, DecodedCall& d);

  // All thread-safe; they outlive the decoder (the Interceptor's parts live together).
  NotificationLoop& loop_;
  TaskCache& tasks_;
  ConnectionTable& table_;
  FlowCache& flows_;
  InterceptorCounters& counters_;
  TreeGuard* guard_ = nullptr;  // set before the workers start
};

}  // namespace openwfp::linux_backend
