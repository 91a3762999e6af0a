// host/supervised_tree.cpp - membership of the supervised tree by /proc parent chains.
#include "host/supervised_tree.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace openwfp::host {
namespace {

// The parent of pid from /proc/PID/stat ("pid (comm) state ppid ..."; comm may hold ')'), or -1.
pid_t parentOf(pid_t pid) {
  char path[40];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[512];
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return -1;
  buf[n] = '\0';
  const char* close = std::strrchr(buf, ')');
  if (close == nullptr || close[1] != ' ' || close[2] == '\0' || close[3] != ' ') return -1;
  char* end = nullptr;
  const long ppid = std::strtol(close + 4, &end, 10);
  if (end == close + 4 || ppid < 0) return -1;
  return static_cast<pid_t>(ppid);
}

}  // namespace

TreeMembership treeMembership(pid_t pid, pid_t root, pid_t supervisor) {
  if (root <= 0 || pid <= 0) return TreeMembership::Outside;
  for (int step = 0; step < 4096; ++step) {
    if (pid == root) return TreeMembership::Inside;
    if (pid == supervisor || pid <= 1) return TreeMembership::Outside;
    const pid_t parent = parentOf(pid);
    if (parent < 0) return TreeMembership::Unknown;
    if (parent == supervisor) return TreeMembership::Inside;  // an orphan of the tree (subreaper)
    pid = parent;
  }
  return TreeMembership::Unknown;
}

TreeMembership SupervisedTree::membership(pid_t pid) const { return treeMembership(pid, root_.load(), ::getpid()); }

std::function<bool(pid_t)> SupervisedTree::insidePredicate() const {
  return [this](pid_t pid) { return membership(pid) != TreeMembership::Outside; };
}

std::function<bool(pid_t)> SupervisedTree::alwaysServePredicate() const {
  return [this](pid_t pid) { return membership(pid) == TreeMembership::Inside; };
}

}  // namespace openwfp::host
