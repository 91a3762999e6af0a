// The supervised tree as `openwfp run` tells the control server about it (S14.6: processes inside
// are restricted code for device descriptors; S14.9: they are always served): /proc parent
// chains to COMMAND, orphans reparented to the supervisor, unknown when /proc cannot tell.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "host/supervised_tree.h"

using openwfp::host::SupervisedTree;
using openwfp::host::TreeMembership;
using openwfp::host::treeMembership;

namespace {

// Forks a child that forks a grandchild; both wait until the pipe closes. Returns {child, grandchild}.
std::pair<pid_t, pid_t> forkTwoLevels(int& release) {
  int report[2], hold[2];
  if (pipe(report) != 0 || pipe(hold) != 0) return {-1, -1};
  pid_t child = fork();
  if (child == 0) {
    close(report[0]);
    close(hold[1]);
    pid_t grandchild = fork();
    if (grandchild == 0) {
      char b;
      (void)!read(hold[0], &b, 1);
      _exit(0);
    }
    (void)!write(report[1], &grandchild, sizeof grandchild);
    char b;
    (void)!read(hold[0], &b, 1);
    waitpid(grandchild, nullptr, 0);
    _exit(0);
  }
  close(report[1]);
  close(hold[0]);
  pid_t grandchild = -1;
  if (read(report[0], &grandchild, sizeof grandchild) != sizeof grandchild) grandchild = -1;
  close(report[0]);
  release = hold[1];
  return {child, grandchild};
}

}  // namespace

TEST(SupervisedTree, S14_6_TreeMembershipFollowsParentChains) {
  int release = -1;
  auto [root, grandchild] = forkTwoLevels(release);
  ASSERT_GT(root, 0);
  ASSERT_GT(grandchild, 0);
  const pid_t self = getpid();
  EXPECT_EQ(treeMembership(root, root, self), TreeMembership::Inside);
  EXPECT_EQ(treeMembership(grandchild, root, self), TreeMembership::Inside);
  EXPECT_EQ(treeMembership(self, root, self), TreeMembership::Outside) << "the supervisor itself";
  EXPECT_EQ(treeMembership(1, root, self), TreeMembership::Outside);
  EXPECT_EQ(treeMembership(grandchild, 0, self), TreeMembership::Outside) << "no tree yet";
  // A process whose chain ends at PID 1 without meeting the root or the supervisor: outside.
  EXPECT_EQ(treeMembership(self, root, 999999999), TreeMembership::Outside);
  // Another child of the supervisor than the root: an orphan of the tree reparented to it.
  pid_t sibling = fork();
  if (sibling == 0) {
    pause();
    _exit(0);
  }
  EXPECT_EQ(treeMembership(sibling, root, self), TreeMembership::Inside);
  kill(sibling, SIGKILL);
  waitpid(sibling, nullptr, 0);
  EXPECT_EQ(treeMembership(sibling, root, self), TreeMembership::Unknown) << "gone: /proc cannot tell";

  // The predicates the host gives the control server.
  SupervisedTree tree;
  EXPECT_FALSE(tree.insidePredicate()(grandchild)) << "before setRoot";
  tree.setRoot(root);
  EXPECT_TRUE(tree.insidePredicate()(grandchild));
  EXPECT_TRUE(tree.alwaysServePredicate()(grandchild));
  EXPECT_FALSE(tree.insidePredicate()(self));
  EXPECT_FALSE(tree.alwaysServePredicate()(self));
  EXPECT_TRUE(tree.insidePredicate()(sibling)) << "unknown: restricted for devices";
  EXPECT_FALSE(tree.alwaysServePredicate()(sibling)) << "unknown: no quota exemption";
  close(release);
  waitpid(root, nullptr, 0);
}
