// linux/supervisor.cpp - starts COMMAND under the seccomp program and serves it (S13.1, S13.5,
// S13.9). The tree's root process (the holder, tree_root.h) sits between the two.
//
// supervisor                                holder -> COMMAND
//   build BPF, resolve COMMAND, fork  --->   PDEATHSIG(SIGKILL), subreaper, fork COMMAND:
//                                            PDEATHSIG, NO_NEW_PRIVS, filter with a new listener
//   take the listener (pidfd_getfd) <------ write() {pid, listener's number} (sendmsg is
//                                            handed over by the filter now), close the listener
//   start Interceptor workers, "go"  ---->   (PR_SET_PTRACER under Yama scope 1), execve
//   error pipe: EOF = exec succeeded  <----  or {stage, errno} when something failed
//   status pipe: COMMAND's wait status <---  the holder, when COMMAND exits
//   waitpid(holder): the tree is gone  <---  the holder exits when it has no child left
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "linux/fd_limit.h"
#include "linux/seccomp_program.h"
#include "linux/tree_guard.h"
#include "linux/tree_root.h"
#include "linux/yama.h"
#include "linux/syscalls.h"
#include "net/unique_fd.h"
#include "openwfp/linux_backend.h"

extern char** environ;

namespace openwfp::linux_backend {
namespace {

// COMMAND's pid and seccomp listener: tree_root.cpp writes {pid, the listener's number}, the
// fd is taken with pidfd_getfd (COMMAND waits for "go" and keeps it open until then).
int takeListener(int sock, pid_t& pid) {
  int msg[2] = {-1, -1};
  ssize_t n;
  do {
    n = ::read(sock, msg, sizeof msg);
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(sizeof msg) || msg[0] <= 0 || msg[1] < 0) return -1;
  pid = static_cast<pid_t>(msg[0]);
  net::UniqueFd pidfd(sys::pidfdOpen(pid, 0));
  if (!pidfd) return -1;
  return sys::pidfdGetfd(pidfd.get(), msg[1], 0);
}

int readFull(int fd, void* out, size_t len) {
  ssize_t n;
  do {
    n = ::read(fd, out, len);
  } while (n < 0 && errno == EINTR);
  return static_cast<int>(n);
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
  pid_t holder = -1;                 // the tree's root (tree_root.h)
  std::atomic<pid_t> command{-1};    // COMMAND
  std::atomic<bool> commandExited{false};
  std::atomic<bool> holderWaited{false};  // read by forwardSignal (a signal handler)
  bool commandWaited = false;
  int exitStatus = 0;
  net::UniqueFd statusRead;          // COMMAND's wait status from the holder
  std::string commandName;
  std::unique_ptr<Interceptor> interceptor;

  Impl(Classifier& c, SupervisorOptions o) : classifier(c), options(std::move(o)) {}

  void waitHolder() {
    if (holder <= 0 || holderWaited) return;
    int status = 0;
    while (::waitpid(holder, &status, 0) < 0) {
      if (errno != EINTR) {
        status = 1 << 8;
        break;
      }
    }
    holderWaited = true;
    if (!commandWaited) {  // the holder died before COMMAND (killed): report its end
      commandWaited = true;
      exitStatus = exitStatusOf(status);
    }
  }

  // COMMAND's status from the holder; EOF: the holder is gone without one.
  void waitCommand() {
    if (commandWaited) return;
    int status = 0;
    if (readFull(statusRead.get(), &status, sizeof status) == static_cast<int>(sizeof status)) {
      commandWaited = true;
      exitStatus = exitStatusOf(status);
      if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS) {
        std::fprintf(stderr,
                     "openwfp: %s was killed by SIGSYS: it made a system call the filter does not "
                     "allow, such as one of a foreign architecture (32-bit or x32 programs cannot "
                     "be supervised)\n",
                     commandName.c_str());
      }
    }
    commandExited.store(true);
    statusRead.reset();
  }
};

Supervisor::Supervisor(Classifier& classifier, SupervisorOptions options)
    : impl_(std::make_unique<Impl>(classifier, std::move(options))) {}

Supervisor::~Supervisor() {
  if (impl_->holder > 0 && !impl_->holderWaited) {
    // COMMAND dies with the holder (PDEATHSIG); other processes still running fail closed.
    ::kill(impl_->holder, SIGKILL);
    impl_->waitHolder();
  }
  impl_->interceptor.reset();
}

int Supervisor::childPid() const { return impl_->command.load(); }
Interceptor* Supervisor::interceptor() { return impl_->interceptor.get(); }

void Supervisor::forwardSignal(int sig) {
  if (!impl_->commandExited.load()) {
    pid_t c = impl_->command.load();
    if (c > 0) ::kill(c, sig);
  } else if (impl_->holder > 0 && !impl_->holderWaited) {
    ::kill(impl_->holder, SIGKILL);  // stop waiting for processes that outlive COMMAND
  }
}

StartResult Supervisor::start(const std::vector<std::string>& argvIn) {
  StartResult result;
  result.exitCode = 1;
  if (impl_->holder > 0) {
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
  impl_->commandName = argvIn[0];
  raiseFdLimit();  // S13.9; COMMAND gets the limit found back before exec
  const rlimit fdLimit = originalFdLimit();
  std::string error;
  TreeGuardPids guard;
  guard.supervisor = ::getpid();
  guard.holder = static_cast<pid_t>(kHolderPidPlaceholder);
  guard.supervisorGroup = ::getpgrp();
  for (int other : impl_->options.protectedPids) guard.others.push_back(static_cast<pid_t>(other));
  std::optional<SeccompProgram> program = buildSeccompProgram(guard, error);
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
  int ep[2], sp[2];
  if (::pipe2(ep, O_CLOEXEC) != 0) {
    result.error = std::string("openwfp: pipe: ") + std::strerror(errno);
    return result;
  }
  net::UniqueFd errRead(ep[0]), errWrite(ep[1]);
  if (::pipe2(sp, O_CLOEXEC) != 0) {
    result.error = std::string("openwfp: pipe: ") + std::strerror(errno);
    return result;
  }
  net::UniqueFd statusRead(sp[0]), statusWrite(sp[1]);
  const SupervisorOptions& o = impl_->options;
  TreePlan plan{path.c_str(), argv.data(), envp.data(), o.stdinFd, o.stdoutFd, o.stderrFd,
                program->instructions.data(),
                static_cast<unsigned short>(program->instructions.size()), childSock.get(),
                errWrite.get(), statusWrite.get(), ::getpid(), yamaPtraceScope() == 1, fdLimit,
                o.handOff && !o.protectedPids.empty() ? static_cast<pid_t>(o.protectedPids.front()) : ::getpid()};

  pid_t pid = ::fork();
  if (pid < 0) {
    result.error = std::string("openwfp: fork: ") + std::strerror(errno);
    return result;
  }
  if (pid == 0) runTreeRoot(plan);  // ---- child: async-signal-safe calls only ----

  // ---- parent ----
  // Non-dumpable from now on (S13.8): no same-uid process, the supervised ones included, may
  // ptrace this process or take its descriptors (the seccomp listener) with pidfd_getfd. Set
  // after fork, so COMMAND does not inherit it (execve would reset it anyway). Core dumps of the
  // supervisor are off as a consequence.
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  impl_->holder = pid;
  impl_->statusRead = std::move(statusRead);
  childSock.reset();
  errWrite.reset();
  statusWrite.reset();
  pid_t commandPid = -1;
  int listener = takeListener(parentSock.get(), commandPid);
  std::string handOffError;
  if (listener >= 0) {
    impl_->command.store(commandPid);
    if (o.handOff) {
      handOffError = o.handOff(listener, static_cast<int>(pid), static_cast<int>(commandPid));
      listener = handOffError.empty() ? listener : -1;
    } else {
      InterceptorOptions io = o.interceptor;
      io.protectedPids = {static_cast<int>(guard.supervisor), static_cast<int>(pid)};
      io.protectedPids.insert(io.protectedPids.end(), o.protectedPids.begin(), o.protectedPids.end());
      io.protectedGroup = guard.supervisorGroup;
      impl_->interceptor = std::make_unique<Interceptor>(impl_->classifier, listener, io);
      impl_->interceptor->start();
    }
    if (listener >= 0) {
      char go = 'G';
      [[maybe_unused]] ssize_t n = ::send(parentSock.get(), &go, 1, MSG_NOSIGNAL);
    } else {
      ::kill(pid, SIGKILL);  // the holder; COMMAND follows (PDEATHSIG) before it runs anything
    }
  }
  ChildError ce{};
  int n = readFull(errRead.get(), &ce, sizeof ce);
  if (n == 0 && listener >= 0) {  // EOF: the pipe was closed by a successful execve
    result.ok = true;
    result.pid = commandPid;
    result.exitCode = 0;
    return result;
  }
  impl_->waitCommand();
  impl_->waitHolder();
  if (impl_->interceptor) {
    impl_->interceptor->stop();
    impl_->interceptor.reset();
  }
  if (!handOffError.empty()) {
    result.error = handOffError;
    return result;
  }
  if (n != static_cast<int>(sizeof ce)) {
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
  if (impl_->holder <= 0) return 1;
  impl_->waitCommand();
  // The tree's other processes keep being served until the last one has exited (S13.9): the
  // holder exits when it has no child left.
  impl_->waitHolder();
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
