// linux/supervisor.cpp - starts COMMAND under the seccomp program and serves it (S13.1, S13.5).
//
// parent (supervisor)                       child
//   build BPF, resolve COMMAND, fork  --->   PDEATHSIG(SIGKILL), parent still there?
//                                            NO_NEW_PRIVS, load filter with a new listener
//   take listener fd     <--- its number --- write() the listener's number (sendmsg is
//     (pidfd_getfd)                          handed over by the filter now)
//   start Interceptor workers, "go"  ---->   close the listener, (PR_SET_PTRACER under Yama
//                                            scope 1), execve
//   error pipe: EOF = exec succeeded  <----  or {stage, errno} when something failed
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "linux/seccomp_program.h"
#include "linux/yama.h"
#include "linux/syscalls.h"
#include "net/unique_fd.h"
#include "openwfp/linux_backend.h"

extern char** environ;

namespace openwfp::linux_backend {
namespace {

enum Stage : int { kStageSetup = 1, kStageSeccomp = 2, kStageExec = 3 };
struct ChildError {
  int stage;
  int err;
};

[[noreturn]] void childFail(int errFd, int stage, int err) {
  ChildError e{stage, err};
  [[maybe_unused]] ssize_t n = ::write(errFd, &e, sizeof e);
  ::_exit(stage == kStageExec ? (err == ENOENT ? 127 : 126) : 1);
}

// The child's seccomp listener: its number comes over sock, the fd is taken with pidfd_getfd.
int takeListener(int sock, pid_t child) {
  int number = -1;
  ssize_t n;
  do {
    n = ::read(sock, &number, sizeof number);
  } while (n < 0 && errno == EINTR);
  if (n != sizeof number || number < 0) return -1;
  net::UniqueFd pidfd(sys::pidfdOpen(child, 0));
  if (!pidfd) return -1;
  return sys::pidfdGetfd(pidfd.get(), number, 0);
}

bool isExecutableFile(const std::string& path, bool& exists) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  if (!S_ISREG(st.st_mode)) return false;
  exists = true;
  return ::access(path.c_str(), X_OK) == 0;
}

// Like execvp's search, done before fork so that "not found" is a clean error (exit 127).
bool resolveCommand(const std::string& name, const std::string& pathVar, std::string& resolved,
                    StartResult& failure) {
  bool exists = false;
  if (name.find('/') != std::string::npos) {
    if (isExecutableFile(name, exists)) {
      resolved = name;
      return true;
    }
    failure.exitCode = exists ? 126 : 127;
    failure.error = "openwfp: " + name + (exists ? ": Permission denied" : ": No such file or directory");
    return false;
  }
  size_t start = 0;
  for (;;) {
    size_t end = pathVar.find(':', start);
    std::string dir = pathVar.substr(start, end == std::string::npos ? std::string::npos : end - start);
    std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
    if (isExecutableFile(candidate, exists)) {
      resolved = candidate;
      return true;
    }
    if (end == std::string::npos) break;
    start = end + 1;
  }
  failure.exitCode = exists ? 126 : 127;
  failure.error = "openwfp: " + name + (exists ? ": Permission denied" : ": command not found");
  return false;
}

std::vector<std::string> childEnvironment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string entry(*e);
    std::string name = entry.substr(0, entry.find('='));
    bool overridden = false;
    for (const std::string& x : extra) {
      if (x.compare(0, name.size() + 1, name + "=") == 0) overridden = true;
    }
    if (!overridden) env.push_back(std::move(entry));
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

std::string lookupEnv(const std::vector<std::string>& env, const std::string& name) {
  for (const std::string& e : env) {
    if (e.compare(0, name.size() + 1, name + "=") == 0) return e.substr(name.size() + 1);
  }
  return "/usr/local/bin:/usr/bin:/bin";
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

struct Supervisor::Impl {
  Classifier& classifier;
  SupervisorOptions options;
  pid_t child = -1;
  bool waited = false;
  int exitStatus = 0;
  std::unique_ptr<Interceptor> interceptor;

  Impl(Classifier& c, SupervisorOptions o) : classifier(c), options(std::move(o)) {}
};

Supervisor::Supervisor(Classifier& classifier, SupervisorOptions options)
    : impl_(std::make_unique<Impl>(classifier, std::move(options))) {}

Supervisor::~Supervisor() {
  if (impl_->child > 0 && !impl_->waited) {
    ::kill(impl_->child, SIGKILL);
    wait();
  }
  impl_->interceptor.reset();
}

int Supervisor::childPid() const { return impl_->child; }
Interceptor* Supervisor::interceptor() { return impl_->interceptor.get(); }

StartResult Supervisor::start(const std::vector<std::string>& argvIn) {
  StartResult result;
  result.exitCode = 1;
  if (impl_->child > 0) {
    result.error = "openwfp: this supervisor already started a command";
    return result;
  }
  if (argvIn.empty() || argvIn[0].empty()) {
    result.error = "openwfp: no COMMAND given";
    return result;
  }
  if (auto missing = checkLinuxFeatures()) {
    result.error = *missing;
    return result;
  }
  std::vector<std::string> env = childEnvironment(impl_->options.extraEnv);
  std::string path;
  if (!resolveCommand(argvIn[0], lookupEnv(env, "PATH"), path, result)) return result;
  std::string error;
  std::optional<SeccompProgram> program = buildSeccompProgram(error);
  if (!program) {
    result.error = error;
    return result;
  }

  // Everything the child needs is prepared here: after fork it only makes system calls.
  std::vector<std::string> argvStrings = argvIn;
  std::vector<char*> argv = pointers(argvStrings);
  std::vector<char*> envp = pointers(env);
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    result.error = std::string("openwfp: socketpair: ") + std::strerror(errno);
    return result;
  }
  net::UniqueFd parentSock(sv[0]), childSock(sv[1]);
  int ep[2];
  if (::pipe2(ep, O_CLOEXEC) != 0) {
    result.error = std::string("openwfp: pipe: ") + std::strerror(errno);
    return result;
  }
  net::UniqueFd errRead(ep[0]), errWrite(ep[1]);
  const pid_t parent = ::getpid();
  const bool setPtracer = yamaPtraceScope() == 1;
  const SupervisorOptions& o = impl_->options;
  const sock_filter* insns = program->instructions.data();
  const auto count = static_cast<unsigned short>(program->instructions.size());

  pid_t pid = ::fork();
  if (pid < 0) {
    result.error = std::string("openwfp: fork: ") + std::strerror(errno);
    return result;
  }
  if (pid == 0) {
    // ---- child: async-signal-safe calls only ----
    int errFd = errWrite.get();
    sigset_t all;
    sigemptyset(&all);
    ::sigprocmask(SIG_SETMASK, &all, nullptr);
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) childFail(errFd, kStageSetup, errno);
    if (::getppid() != parent) ::_exit(1);  // the supervisor died before PDEATHSIG was armed
    if (o.stdinFd >= 0 && ::dup2(o.stdinFd, 0) < 0) childFail(errFd, kStageSetup, errno);
    if (o.stdoutFd >= 0 && ::dup2(o.stdoutFd, 1) < 0) childFail(errFd, kStageSetup, errno);
    if (o.stderrFd >= 0 && ::dup2(o.stderrFd, 2) < 0) childFail(errFd, kStageSetup, errno);
    int listener = installSeccompProgram(insns, count);
    if (listener < 0) childFail(errFd, kStageSeccomp, -listener);
    // The filter hands sendmsg() over from now on (S13.7): the listener's number goes with
    // write(), and the supervisor takes the fd itself (pidfd_getfd), before answering "go".
    if (::write(childSock.get(), &listener, sizeof listener) != sizeof listener) {
      childFail(errFd, kStageSetup, errno);
    }
    char go = 0;
    ssize_t n;
    do {
      n = ::read(childSock.get(), &go, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1) ::_exit(1);
    ::close(listener);  // only the supervisor may answer (and its death must be felt)
    if (setPtracer) ::prctl(PR_SET_PTRACER, parent, 0, 0, 0);
    ::execve(path.c_str(), argv.data(), envp.data());
    childFail(errFd, kStageExec, errno);
  }

  // ---- parent ----
  // Non-dumpable from now on (S13.8): no same-uid process, the supervised ones included, may
  // ptrace this process or take its descriptors (the seccomp listener) with pidfd_getfd. Set
  // after fork, so COMMAND does not inherit it (execve would reset it anyway). Core dumps of the
  // supervisor are off as a consequence.
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  impl_->child = pid;
  childSock.reset();
  errWrite.reset();
  int listener = takeListener(parentSock.get(), pid);
  if (listener >= 0) {
    impl_->interceptor = std::make_unique<Interceptor>(impl_->classifier, listener, o.interceptor);
    impl_->interceptor->start();
    char go = 'G';
    [[maybe_unused]] ssize_t n = ::send(parentSock.get(), &go, 1, MSG_NOSIGNAL);
  }
  ChildError ce{};
  ssize_t n;
  do {
    n = ::read(errRead.get(), &ce, sizeof ce);
  } while (n < 0 && errno == EINTR);
  if (n == 0 && listener >= 0) {  // EOF: the pipe was closed by a successful execve
    result.ok = true;
    result.pid = pid;
    result.exitCode = 0;
    return result;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  impl_->waited = true;
  impl_->exitStatus = exitStatusOf(status);
  if (impl_->interceptor) {
    impl_->interceptor->stop();
    impl_->interceptor.reset();
  }
  if (n != static_cast<ssize_t>(sizeof ce)) {
    result.error = "openwfp: the supervised child died during set-up";
    return result;
  }
  if (ce.stage == kStageExec) {
    result.exitCode = ce.err == ENOENT ? 127 : 126;
    result.error = "openwfp: " + argvIn[0] + ": " + std::strerror(ce.err);
  } else if (ce.stage == kStageSeccomp) {
    result.error = std::string("openwfp: cannot install the seccomp filter: ") +
                   std::strerror(ce.err) +
                   (ce.err == EBUSY ? " (already supervised: nested openwfp run is not supported)"
                                    : "");
  } else {
    result.error = std::string("openwfp: setting up the supervised child failed: ") +
                   std::strerror(ce.err);
  }
  return result;
}

int Supervisor::wait() {
  if (impl_->child <= 0) return 1;
  if (!impl_->waited) {
    int status = 0;
    while (::waitpid(impl_->child, &status, 0) < 0) {
      if (errno != EINTR) {
        status = 1 << 8;
        break;
      }
    }
    impl_->waited = true;
    impl_->exitStatus = exitStatusOf(status);
  }
  // Descendants that outlive COMMAND: closing the listener makes their calls fail (ENOSYS).
  if (impl_->interceptor) impl_->interceptor->stop();
  return impl_->exitStatus;
}

int Supervisor::run(const std::vector<std::string>& argv) {
  StartResult r = start(argv);
  if (!r.ok) {
    std::fprintf(stderr, "%s\n", r.error.c_str());
    return r.exitCode;
  }
  return wait();
}

}  // namespace openwfp::linux_backend
