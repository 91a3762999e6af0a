// host/attached_sessions.h - the sessions attached to the engine service (S14.3): each is the
// seccomp listener of one `openwfp run --attach` tree, served by an Interceptor of the engine's
// classifier, so every attached tree shares filters, drivers, devices and proxies.
//
// A session lives as long as the control connection that attached it: when `openwfp run
// --attach` ends (its tree is gone) or dies (its tree is killed: PDEATHSIG), detach() stops the
// interceptor. The control server finds connections through lookup(), which asks every
// session's interceptor; membership() says whether a pid is inside an attached tree (device
// descriptors' RC, alwaysServe).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "host/supervised_tree.h"
#include "openwfp/connections.h"
#include "openwfp/linux_backend.h"

namespace openwfp::host {

struct AttachRequest {
  uint64_t connection = 0;
  int listenerFd = -1;     // owned by attach() from the call on
  pid_t client = 0;        // `openwfp run --attach` (the supervisor of the tree)
  pid_t root = 0;          // the tree's root process (COMMAND's parent)
  pid_t command = 0;
  pid_t group = 0;         // the client's process group (S13.8 group rules)
  std::string commandLine;
};

struct SessionInfo {
  uint64_t id = 0;
  pid_t client = 0, root = 0, command = 0;
  std::string commandLine;
  std::chrono::system_clock::time_point attached;
  linux_backend::InterceptorStats stats;
};

class AttachedSessions {
 public:
  AttachedSessions(Classifier& classifier, linux_backend::InterceptorOptions base);
  ~AttachedSessions();  // stopAll()

  // Starts serving the listener; the session id, or 0 with a one-line error.
  uint64_t attach(AttachRequest request, std::string& error);
  // The connection that attached a session ended: stop serving it (no-op for other connections).
  void detach(uint64_t connection);
  void stopAll();

  std::vector<SessionInfo> list() const;
  TreeMembership membership(pid_t pid) const;
  std::shared_ptr<ConnectionLookup> lookup();

  struct Session;

 private:
  class Lookup;
  Classifier& classifier_;
  linux_backend::InterceptorOptions base_;
  mutable std::shared_mutex mu_;  // shared: lookups and lists; unique: attach/detach
  std::vector<std::unique_ptr<Session>> sessions_;
  uint64_t nextId_ = 1;
  std::shared_ptr<Lookup> lookup_;
};

}  // namespace openwfp::host
