// openwfp/linux_backend.h - the Linux backend: classifies real processes' connect() and bind()
// with a seccomp user-notification filter (SPEC S13).
//
// Supervisor starts COMMAND ARGS with a seccomp filter that parks every connect()/bind() and the
// sends that can carry a destination, and hands them to an Interceptor, which reads the call's
// sockaddr and process facts, asks a Classifier (openwfp/stack.h) and answers the call:
// permit -> the supervisor connects/binds/sends on the process's own socket (a pidfd_getfd
// duplicate) with the address it classified, or the redirect's final address, and the call
// returns that result (S13.7: never "continue" once the application could change the address or
// the fd); block -> the call fails with blockErrno (ECONNREFUSED by default, S13.3).
//
// Everything works without root. The backend depends on openwfp/stack.h only.
// This header includes no Linux socket header, so it can be used next to the km headers.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "openwfp/connections.h"
#include "openwfp/stack.h"

namespace openwfp::linux_backend {

struct InterceptorOptions {
  // Threads serving the listener. One at a time waits in the blocking receive ioctl (the kernel
  // wakes every waiting thread per notification) and handles what it receives itself; another
  // one starts receiving when a handler has been busy for 2 ms (a slow inline classify). A
  // pended classify holds no thread.
  unsigned workerThreads = 4;
  int blockErrno = 111;            // ECONNREFUSED: errno of a blocked connect (S13.3)
  int bindBlockErrno = 13;         // EACCES: errno of a blocked bind
  // How often closed connections are found (sock_diag) and reported with connectionClosed().
  unsigned reapIntervalMs = 1000;
  // Signal used to interrupt workers blocked in the receive ioctl when stopping. Its handler is
  // set to a no-op (without SA_RESTART) by the first Interceptor.
  int wakeSignal = 0;              // 0 = SIGRTMAX - 3
  // Benchmarking only: answer every notification "continue" without looking at it or asking the
  // classifier (measures the bare seccomp round trip). Never for real use: nothing is classified.
  bool passThrough = false;
  // Processes the tree may not signal (S13.8): set by Supervisor (itself and the tree's root);
  // a kill(0, sig) stopping or killing the group `protectedGroup` (when > 0) is refused too.
  std::vector<int> protectedPids;
  int protectedGroup = 0;
};

struct SupervisorOptions {
  InterceptorOptions interceptor;
  // Extra "NAME=value" entries for COMMAND's environment (override inherited ones).
  std::vector<std::string> extraEnv;
  // When >= 0, dup2'ed onto COMMAND's stdin/stdout/stderr.
  int stdinFd = -1;
  int stdoutFd = -1;
  int stderrFd = -1;
  // Attach mode (S14.3, `openwfp run --attach`): when set, start() gives COMMAND's seccomp
  // listener to handOff(listenerFd, rootPid, commandPid) instead of serving it. handOff owns the
  // descriptor (it closes it, e.g. once it has sent it to the engine service, so that no copy is
  // left here: when the server dies, the calls fail closed) and returns "" once it is served,
  // else a one-line error: COMMAND is then killed and start() fails with that line.
  // interceptor() stays nullptr.
  std::function<std::string(int listenerFd, int rootPid, int commandPid)> handOff;
  // More processes the tree may not signal (refused in the seccomp program, S13.8), e.g. the
  // engine service that serves an attached tree. With handOff, the first is the process that
  // serves the listener (under Yama ptrace_scope 1, COMMAND names it with PR_SET_PTRACER).
  std::vector<int> protectedPids;
};

struct InterceptorStats {
  uint64_t notifications = 0;     // received from the kernel
  uint64_t continued = 0;         // answered "run the call as asked"
  uint64_t redirected = 0;        // connect/bind performed by the supervisor to another address
  uint64_t blocked = 0;           // failed with blockErrno / bindBlockErrno / ETIMEDOUT
  uint64_t failed = 0;            // could not be inspected: failed closed (EACCES/EFAULT)
  uint64_t stale = 0;             // the call went away before it was answered
  uint64_t pended = 0;            // classifier answered after classify returned
  uint64_t connectionsClosed = 0; // connectionClosed() calls made
  bool syncWakeUp = false;        // SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP in effect
};

// Serves the notifications of one seccomp listener. Every IP connect/bind/send with an address
// is performed by the supervisor on its duplicate of the socket with the address it classified
// (S13.7), so rewriting the sockaddr or swapping the fd after the supervisor read them changes
// nothing. Limits (see call_decoder.h and the tests in tests/linux): a non-IP address on a
// non-IP socket, sends on non-TCP/UDP sockets and TCP sends without MSG_FASTOPEN are answered
// "continue", so a program that swaps a TCP/UDP socket onto the fd AND rewrites the address in
// between gets that call unclassified; a Fast Open sendmmsg fails with EOPNOTSUPP; UDP control
// messages other than IP_PKTINFO, IP_TOS, IP_TTL, IPV6_PKTINFO, IPV6_TCLASS, IPV6_HOPLIMIT,
// IPV6_DONTFRAG and UDP_SEGMENT fail with EPERM (SO_MARK...); MSG_ZEROCOPY is sent as a copy. A
// process that is not inspectable (non-dumpable, under an unprivileged supervisor) gets EACCES
// (fail closed), and so do calls met while the supervisor is out of fds (EMFILE/ENFILE).
class Interceptor {
 public:
  // Takes ownership of listenerFd. classifier must outlive the Interceptor.
  Interceptor(Classifier& classifier, int listenerFd, InterceptorOptions options = {});
  ~Interceptor();  // stop()
  Interceptor(const Interceptor&) = delete;
  Interceptor& operator=(const Interceptor&) = delete;

  void start();
  // Stops the workers, closes the listener (calls still waiting, including pended classifies,
  // and all later notified calls fail with ENOSYS: fail closed) and reports every remembered
  // connection closed. Stats stay readable.
  void stop();

  // The connection whose connecting socket has this local and remote address (remote = the
  // final destination). For a proxy's accepted socket pass (its peer, its local address).
  std::optional<ConnectionInfo> findConnection(const Endpoint& local, const Endpoint& remote);
  std::optional<ConnectionInfo> findBySocketCookie(uint64_t cookie);

  // Records attached to a socket (SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS): its next connect is
  // classified with them as ConnectRequest.proxiedRecords. Dropped when the socket is gone.
  void attachRecords(uint64_t socketCookie, std::shared_ptr<redirect::History> records);

  // Finds closed connections now (normally done every reapIntervalMs).
  void reapNow();

  InterceptorStats stats() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// The interceptor's connections as a ConnectionLookup (openwfp/connections.h), e.g. for the
// control server (ControlServer::setLookup). The interceptor must outlive every use: clear the
// server's lookup with setLookup(nullptr) before destroying it.
std::shared_ptr<ConnectionLookup> connectionLookup(Interceptor& interceptor);
// ConnectionLookup::offerHandOff for every Interceptor of this process: a duplicate of fd is
// kept until the connection of `records` completes (src/linux/hand_off.h). 0 or an errno.
int offerHandOff(std::shared_ptr<redirect::History> records, int fd);

// Result of starting COMMAND.
struct StartResult {
  bool ok = false;
  int pid = -1;         // COMMAND's pid when ok
  int exitCode = 0;     // when !ok: 127 not found, 126 not executable, 1 other failure
  std::string error;    // when !ok: one line, e.g. "openwfp: nosuchcmd: command not found"
};

// Runs COMMAND ARGS under the filter, below a root process of the tree that is a subreaper
// (docs/supervised-tree.md). Fail closed (S13.5): the root gets PR_SET_PDEATHSIG(SIGKILL) from
// the thread that calls start() and COMMAND from the root, and if the supervisor goes away,
// calls that need it fail (ENOSYS) rather than run unclassified.
class Supervisor {
 public:
  explicit Supervisor(Classifier& classifier, SupervisorOptions options = {});
  ~Supervisor();  // kills COMMAND if it is still running, then stops
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Checks the kernel, resolves COMMAND in PATH, forks, installs the filter, execs. The calling
  // thread must stay alive while COMMAND runs (PR_SET_PDEATHSIG follows the forking thread).
  StartResult start(const std::vector<std::string>& argv);
  // Waits for COMMAND and then for every other process of the tree (S13.9: the tree's root is a
  // subreaper; processes that outlive COMMAND keep being served for as long as they run);
  // returns COMMAND's exit code, or 128 + signal number. Then stops the interceptor;
  // interceptor() stays valid for its stats. When COMMAND was killed by SIGSYS (a foreign-
  // architecture system call, S13.8) one line saying so goes to stderr.
  int wait();
  // Async-signal-safe, for the host's SIGINT/SIGTERM/SIGHUP handler: while COMMAND runs, sends
  // sig to it; after COMMAND exited, stops waiting for the processes that outlive it (they are
  // then no longer served: their calls fail closed, S13.5).
  void forwardSignal(int sig);
  // start() + wait(); on a start failure prints the error line to stderr and returns its code.
  int run(const std::vector<std::string>& argv);

  int childPid() const;
  Interceptor* interceptor();  // after a successful start(), nullptr before

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Kernel features the backend needs (S13.6): std::nullopt when all are there, otherwise one line
// naming the first missing one, e.g. "openwfp: kernel lacks pidfd_getfd (needs Linux >= 5.6)".
std::optional<std::string> checkLinuxFeatures();

// Exit status of a waitpid() status: the exit code, or 128 + signal.
int exitStatusOf(int waitStatus);

}  // namespace openwfp::linux_backend
