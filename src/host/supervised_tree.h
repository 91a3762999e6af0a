// host/supervised_tree.h - "is this process inside the tree `openwfp run` supervises?" for the
// control server (S14.6 device descriptors: RC; S14.9 alwaysServe).
//
// The tree is the supervised COMMAND (root) and its descendants: a process is inside when the
// chain of parents read from /proc/PID/stat reaches root, or reaches the supervisor (this
// process) through a child other than root. That child is the tree's root process
// (linux/tree_root.h): COMMAND's parent and the subreaper that adopts the tree's orphans
// (openwfp run starts no other children). A chain that ends at PID 1 or 0 first is outside.
// Unknown: /proc could not tell (the process exited, /proc unreadable, a chain longer than
// 4096 steps).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <functional>

namespace openwfp::host {

enum class TreeMembership { Inside, Outside, Unknown };

// root <= 0: no tree yet (everything is Outside). supervisor: the process COMMAND is a child of.
TreeMembership treeMembership(pid_t pid, pid_t root, pid_t supervisor);

// The root of the tree, set once the supervisor started COMMAND; predicates for the control
// server read it when asked.
class SupervisedTree {
 public:
  void setRoot(pid_t root) { root_.store(root); }
  TreeMembership membership(pid_t pid) const;
  // ControlServerOptions::insideSupervisedTree: Inside or Unknown (devices: the restricted case).
  std::function<bool(pid_t)> insidePredicate() const;
  // ControlServerOptions::alwaysServe: Inside only (an unknown client gets no quota exemption).
  std::function<bool(pid_t)> alwaysServePredicate() const;

 private:
  std::atomic<pid_t> root_{0};
};

}  // namespace openwfp::host
