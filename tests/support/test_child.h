// support/test_child.h - another process, for tests that are about who is calling or that need
// a process of their own (its own resource limits, another uid).
//
// The test process is multi-threaded (control servers, driver work items), so a plain fork()
// whose child goes on to allocate or to start threads can deadlock on a lock another thread held
// at fork time (seen under ASan). Instead the child is this test binary re-executed: it starts
// with OPENWFP_TEST_CHILD=<group>/<name>, and the test file of that group runs the named
// function from a static initializer (runChildIfAsked: before main, single-threaded) and exits
// with its return value. Each test file that has children uses its own group, so files need not
// know each other's children. Descriptors the child needs are passed at 3, 4, ...
// (OPENWFP_TEST_CHILD_FDS says how many); the environment is inherited.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace testchild {

inline constexpr int kChildFdBase = 3;
inline constexpr size_t kMaxChildFds = 8;

struct ChildEntry {
  const char* name;
  int (*fn)(const int* fds);
};

// Starts child `name` of `group` with fds placed at 3, 4, ... and extraEnv (NAME=VALUE,
// replacing an inherited NAME) added; returns its pid (-1 when it could not be started).
inline pid_t spawnChild(const char* group, const char* name, std::initializer_list<int> fds = {},
                        const std::vector<std::string>& extraEnv = {}) {
  // Everything that allocates happens before fork: the child only calls async-signal-safe functions.
  std::vector<std::string> env{std::string("OPENWFP_TEST_CHILD=") + group + "/" + name,
                               "OPENWFP_TEST_CHILD_FDS=" + std::to_string(fds.size())};
  for (const auto& e : extraEnv) env.push_back(e);
  for (char** e = environ; *e; ++e) {  // inherited, unless extraEnv sets the same name
    const std::string_view entry(*e);
    bool overridden = false;
    for (const auto& x : extraEnv) {
      overridden = overridden || entry.substr(0, entry.find('=') + 1) == x.substr(0, x.find('=') + 1);
    }
    if (!overridden) env.emplace_back(entry);
  }
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  if (fds.size() > kMaxChildFds) return -1;
  int from[kMaxChildFds];
  size_t n = 0;
  for (int fd : fds) from[n++] = fd;
  char arg0[] = "openwfp_tests";
  char* argv[] = {arg0, nullptr};
  pid_t pid = fork();
  if (pid == 0) {
    // First move every source out of the way (so placing one never clobbers a later source),
    // then place them; dup2 leaves the placed descriptors without FD_CLOEXEC.
    int high[kMaxChildFds];
    for (size_t i = 0; i < n; ++i) {
      high[i] = fcntl(from[i], F_DUPFD_CLOEXEC, 100);
      if (high[i] < 0) _exit(31);
    }
    for (size_t i = 0; i < n; ++i) {
      if (dup2(high[i], kChildFdBase + static_cast<int>(i)) < 0) _exit(32);
    }
    execve("/proc/self/exe", argv, envp.data());
    _exit(30);
  }
  return pid;
}

// The child's exit code, or 128 + the signal that killed it; -1 when it could not be started.
inline int waitChild(pid_t pid) {
  if (pid <= 0) return -1;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// waitChild, bounded: -1 when the child did not exit within `limit` (it is then killed and
// reaped), so a test that waits for a child never hangs to the ctest timeout.
inline int waitChildFor(pid_t pid, std::chrono::milliseconds limit) {
  if (pid <= 0) return -1;
  const auto end = std::chrono::steady_clock::now() + limit;
  int status = 0;
  for (;;) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return -1;
    if (std::chrono::steady_clock::now() >= end) {
      kill(pid, SIGKILL);
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// For a static initializer: in a child started for `group`, runs the named one of `children`
// and exits with its result (99: no such child); elsewhere returns 0.
inline int runChildIfAsked(const char* group, std::span<const ChildEntry> children) {
  const char* full = std::getenv("OPENWFP_TEST_CHILD");
  if (full == nullptr) return 0;
  const size_t g = std::strlen(group);
  if (std::strncmp(full, group, g) != 0 || full[g] != '/') return 0;  // another file's child
  const char* name = full + g + 1;
  const char* count = std::getenv("OPENWFP_TEST_CHILD_FDS");
  int fds[kMaxChildFds] = {};
  const int n = count ? std::atoi(count) : 0;
  for (int i = 0; i < n && i < static_cast<int>(kMaxChildFds); ++i) fds[i] = kChildFdBase + i;
  for (const auto& c : children) {
    if (std::strcmp(c.name, name) == 0) _exit(c.fn(fds));
  }
  _exit(99);
}

}  // namespace testchild
