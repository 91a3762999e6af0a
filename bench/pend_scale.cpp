// bench/pend_scale.cpp - Scale (DESIGN.md): 10,000 concurrently pended connects held and
// completed, resident memory reported, each figure set against a baseline measured in the same
// run (SPEC S6.3 at scale, S13).
//
//   pend_scale [N [LISTENERS]]   (default N = 10000 connects from LISTENERS = 16 client processes)
//
// Five phases, each a fresh process (this program re-executed with --phase), so that every
// memory reading starts from a clean heap:
//   engine/inline  baseline: N classifies through the real engine (Runtime classifier) at
//                  ALE_CONNECT_REDIRECT_V4, where a callout driver registered with the Fwps API
//                  redirects each inline
//   engine/pended  the same driver pends all N (FwpsPendClassify0), then one thread completes them
//                  with a redirect in a shuffled order (pend_scale/engine_phase.cpp); both engine
//                  phases run 5 rounds and report the median times
//   real/bare      the floor: the clients of the real phases below, unsupervised, connecting
//                  straight to the loopback server (what waking N threads and connecting them
//                  costs this machine, against which the real phases' times are also set)
//   real/inline    baseline: LISTENERS client processes (this program, --client), each under its
//                  own linux_backend::Supervisor in this one process, make N concurrent blocking
//                  TCP connects in all (one thread with a 64 KiB stack each) to 127.0.0.2:9, where
//                  nobody listens; the classifier redirects each inline to a loopback server
//                  127.0.0.1:Q (the supervisor connects the client's own socket)
//   real/pended    the same, but the classifier holds every done() until all N connects are
//                  parked in the kernel, reads the supervisor's VmRSS/VmHWM, then completes them
//                  all with the redirect from another thread in a shuffled order
// and prints a summary table with the ratios pended/baseline (time to complete all N; resident
// bytes per pended connect vs per un-pended connection). Progress goes to stderr.
// Exit status non-zero (with a message naming the cause) when any connect fails, a limit
// (threads, file descriptors) stops a phase, or a phase stalls or overruns its time.
//
// Cost to know when reading the figures: the kernel keeps a listener's notifications in one list
// and walks it on every receive, ID_VALID and send, so each of them costs O(calls held) on that
// listener; holding N calls costs O(N^2) kernel time in all (seconds at N = 10,000), seen as
// the system time of the interceptor's threads. `openwfp run` has one listener per command; this
// benchmark spreads the clients over 16 by default, as an engine serving 16 sessions would hold
// them, and `pend_scale 10000 1` puts them all on one (about 1.5 file descriptors per connect in
// the supervisor either way, see runRealPhase).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "linux/inet_sockets.h"
#include "openwfp/linux_backend.h"
#include "openwfp/stack.h"
#include "pend_scale/common.h"
#include "redirect/history.h"

using namespace openwfp;
using namespace pend_scale;

namespace {

constexpr int kDefaultN = 10000;
// Client processes, each under its own Supervisor. The kernel walks a seccomp listener's list of
// notifications on every receive, ID_VALID and send, so with K calls held on one listener each
// costs O(K), and holding N on one listener O(N^2) in all (at N = 10,000 on the 2-core dev
// machine 5-34 s of hold, mostly kernel time of the interceptor's threads); more listeners
// divide that. The interceptors' task caches share one pidfd budget (RLIMIT_NOFILE / 4, at most
// kTaskCacheEntries), so N = 10,000 pended fits in 20,000 descriptors with any number of listeners.
// The default, 16, is an engine serving 16 sessions (`openwfp run --attach`), each with its share
// of the connects; `pend_scale 10000 1` shows one process's quadratic cost (15 s here).
constexpr int kDefaultListeners = 16;
constexpr size_t kClientStack = 64 * 1024;
constexpr uint16_t kOrigPort = 9;  // 127.0.0.2:9: nobody listens there, only a redirect gets through
constexpr int kStallSeconds = 15;  // a real phase fails when nothing progresses for this long
constexpr int kPhaseSeconds = 90;  // a phase process is killed after this
// The interceptor's task cache keeps a pidfd per client thread, up to this many (task_cache.cpp).
constexpr long kTaskCacheEntries = 8192;

// Raises RLIMIT_NOFILE to `want` (the hard limit too, where allowed: root or CAP_SYS_RESOURCE),
// else the soft limit to the hard one; returns the soft limit then in force.
long raiseFdLimit(long want) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  const auto wanted = static_cast<rlim_t>(want);
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < wanted) {
    rlimit raised{wanted, rl.rlim_max == RLIM_INFINITY ? rl.rlim_max : std::max(rl.rlim_max, wanted)};
    if (::setrlimit(RLIMIT_NOFILE, &raised) != 0) {
      raised = {rl.rlim_max, rl.rlim_max};
      if (::setrlimit(RLIMIT_NOFILE, &raised) != 0) raised = rl;
    }
    rl = raised;
  }
  return rl.rlim_cur == RLIM_INFINITY ? 1L << 30 : static_cast<long>(rl.rlim_cur);
}

std::string readSmallFile(const char* path) {
  std::string out;
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "?";
  char buf[64];
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return "?";
  out.assign(buf, static_cast<size_t>(n));
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

// pids.max of this process's cgroup (v2), "?" when there is none.
std::string cgroupPidsMax() {
  std::string cg = readSmallFile("/proc/self/cgroup");  // "0::/some/path"
  size_t at = cg.find("::");
  if (at == std::string::npos) return "?";
  std::string path = "/sys/fs/cgroup" + cg.substr(at + 2);
  if (path.back() != '/') path += '/';
  path += "pids.max";
  return readSmallFile(path.c_str());
}

std::string limitText(int resource) {
  rlimit rl{};
  if (::getrlimit(resource, &rl) != 0) return "?";
  return rl.rlim_cur == RLIM_INFINITY ? "unlimited" : std::to_string(rl.rlim_cur);
}

// "key=value" tokens of a line into Figures (non-numeric values are skipped).
Figures parseFigures(const std::string& line) {
  Figures f;
  std::istringstream in(line);
  std::string tok;
  while (in >> tok) {
    size_t eq = tok.find('=');
    if (eq == std::string::npos) continue;
    char* end = nullptr;
    double v = std::strtod(tok.c_str() + eq + 1, &end);
    if (end != tok.c_str() + eq + 1) f[tok.substr(0, eq)] = v;
  }
  return f;
}

// Reads whole lines from a pipe, with a timeout.
class LineReader {
 public:
  explicit LineReader(int fd) : fd_(fd) {}
  // The next line; nullopt on EOF or timeout (timedOut() tells which).
  std::optional<std::string> line(int timeoutMs) {
    const int64_t deadline = nowNs() + int64_t{timeoutMs} * 1000000;
    timedOut_ = false;
    for (;;) {
      size_t nl = buf_.find('\n');
      if (nl != std::string::npos) {
        std::string l = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return l;
      }
      if (eof_) return std::nullopt;
      int64_t left = (deadline - nowNs()) / 1000000;
      if (left <= 0) {
        timedOut_ = true;
        return std::nullopt;
      }
      pollfd p{fd_, POLLIN, 0};
      int rc = ::poll(&p, 1, static_cast<int>(left));
      if (rc < 0 && errno == EINTR) continue;
      if (rc <= 0) continue;
      char chunk[4096];
      ssize_t n = ::read(fd_, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        eof_ = true;
        continue;
      }
      buf_.append(chunk, static_cast<size_t>(n));
    }
  }
  bool timedOut() const { return timedOut_; }
  // True when a line (or EOF) is available now.
  bool ready() {
    if (buf_.find('\n') != std::string::npos || eof_) return true;
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, 0) == 1;
  }

 private:
  int fd_;
  std::string buf_;
  bool eof_ = false;
  bool timedOut_ = false;
};

bool writeAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// =============================== client mode ===================================================
// pend_scale --client HOST PORT N: N sockets, N threads (64 KiB stacks) parked until "go" on
// stdin, then each makes one blocking connect. Prints "ready ..." and "done ..." lines on stdout
// and keeps the connections open until stdin closes.

struct ClientThread {
  int fd = -1;
  const sockaddr_in* dest = nullptr;
  std::atomic<int>* go = nullptr;  // 0 wait, 1 connect, -1 give up
  int err = -1;
  int64_t doneNs = 0;
};

void* clientThreadMain(void* arg) {
  auto* t = static_cast<ClientThread*>(arg);
  int g;
  while ((g = t->go->load(std::memory_order_acquire)) == 0) t->go->wait(0);
  if (g < 0) return nullptr;
  int rc;
  do {
    rc = ::connect(t->fd, reinterpret_cast<const sockaddr*>(t->dest), sizeof *t->dest);
  } while (rc != 0 && errno == EINTR);
  t->err = rc == 0 ? 0 : errno;
  t->doneNs = nowNs();
  return nullptr;
}

int runClient(const char* host, int port, int n) {
  const long fdLimit = raiseFdLimit(n + 16);
  if (fdLimit < n + 16) {
    std::fprintf(stderr,
                 "pend_scale client: %d sockets need %d file descriptors, RLIMIT_NOFILE allows %ld "
                 "(raise the hard limit, ulimit -Hn, or pass a smaller N)\n",
                 n, n + 16, fdLimit);
    return 3;
  }
  sockaddr_in dest{};
  dest.sin_family = AF_INET;
  dest.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, host, &dest.sin_addr);
  std::vector<ClientThread> threads(static_cast<size_t>(n));
  std::atomic<int> go{0};
  for (auto& t : threads) {
    t.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (t.fd < 0) {
      std::fprintf(stderr, "pend_scale client: socket %zu of %d: %s (RLIMIT_NOFILE %ld)\n",
                   static_cast<size_t>(&t - threads.data()) + 1, n, std::strerror(errno), fdLimit);
      return 3;
    }
    t.dest = &dest;
    t.go = &go;
  }
  pthread_attr_t attr;
  ::pthread_attr_init(&attr);
  ::pthread_attr_setstacksize(&attr, kClientStack);
  std::vector<pthread_t> ids;
  ids.reserve(threads.size());
  for (auto& t : threads) {
    pthread_t id;
    int rc = ::pthread_create(&id, &attr, clientThreadMain, &t);
    if (rc != 0) {
      std::fprintf(stderr,
                   "pend_scale client: cannot start thread %zu of %d: %s (limits: RLIMIT_NPROC %s, "
                   "RLIMIT_AS %s, kernel.threads-max %s, kernel.pid_max %s, cgroup pids.max %s, "
                   "vm.max_map_count %s); pass a smaller N\n",
                   ids.size() + 1, n, std::strerror(rc), limitText(RLIMIT_NPROC).c_str(),
                   limitText(RLIMIT_AS).c_str(),
                   readSmallFile("/proc/sys/kernel/threads-max").c_str(),
                   readSmallFile("/proc/sys/kernel/pid_max").c_str(), cgroupPidsMax().c_str(),
                   readSmallFile("/proc/sys/vm/max_map_count").c_str());
      go.store(-1, std::memory_order_release);
      go.notify_all();
      for (pthread_t started : ids) ::pthread_join(started, nullptr);
      return 4;
    }
    ids.push_back(id);
  }
  ::pthread_attr_destroy(&attr);

  const Memory parked = readMemory();
  std::printf("ready threads=%d rss_kb=%ld hwm_kb=%ld\n", n, parked.rssKb, parked.hwmKb);
  std::fflush(stdout);
  LineReader in(0);
  auto cmd = in.line(600 * 1000);
  if (!cmd || *cmd != "go") {
    go.store(-1, std::memory_order_release);
    go.notify_all();
    for (pthread_t id : ids) ::pthread_join(id, nullptr);
    return 5;
  }
  const int64_t goNs = nowNs();
  go.store(1, std::memory_order_release);
  go.notify_all();
  for (pthread_t id : ids) ::pthread_join(id, nullptr);

  int ok = 0, firstErr = 0;
  int64_t lastNs = goNs;
  for (const auto& t : threads) {
    if (t.err == 0) {
      ++ok;
    } else if (firstErr == 0) {
      firstErr = t.err;
    }
    lastNs = std::max(lastNs, t.doneNs);
  }
  const Memory after = readMemory();
  std::printf("done ok=%d failed=%d first_errno=%d go_ns=%lld last_ns=%lld rss_kb=%ld hwm_kb=%ld\n",
              ok, n - ok, firstErr, static_cast<long long>(goNs), static_cast<long long>(lastNs),
              after.rssKb, after.hwmKb);
  std::fflush(stdout);
  while (in.line(600 * 1000)) {
  }  // the phase reads our memory, then closes stdin
  for (const auto& t : threads) ::close(t.fd);
  return ok == n ? 0 : 1;
}

// =============================== real-process phases ===========================================

// Accepts on 127.0.0.1:Q and closes every accepted connection at once (the client's side stays
// connected; the phase process holds no fd per connection). N SYNs at once overflow one
// listener's queue (somaxconn caps it, 4096 by default) and each dropped SYN waits 1 s for its
// retransmission: that measured the harness, not the path. So Q has one SO_REUSEPORT listener
// per 1,000 expected connects, each with its own queue, all drained by one thread.
class Server {
 public:
  explicit Server(int expected) {
    const int count = std::max(1, (expected + 999) / 1000);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < count; ++i) {
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      if (fd < 0) return;
      fds_.push_back(fd);
      const int one = 1;
      socklen_t len = sizeof sa;
      if (::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
          ::bind(fd, reinterpret_cast<sockaddr*>(&sa), len) != 0 ||
          ::listen(fd, std::min(expected, 4096)) != 0 ||
          ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
        return;  // port_ stays 0
      }
    }
    port_ = ntohs(sa.sin_port);
    thread_ = std::thread([this] {
      std::vector<pollfd> p;
      for (int fd : fds_) p.push_back({fd, POLLIN, 0});
      while (!stop_.load()) {
        if (::poll(p.data(), p.size(), 50) <= 0) continue;
        for (const pollfd& one : p) {
          if ((one.revents & POLLIN) == 0) continue;
          for (;;) {
            int c = ::accept4(one.fd, nullptr, nullptr, SOCK_CLOEXEC);
            if (c < 0) break;
            ::close(c);
            accepted_.fetch_add(1, std::memory_order_relaxed);
          }
        }
      }
    });
  }
  ~Server() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    for (int fd : fds_) ::close(fd);
  }
  int port() const { return port_; }
  uint64_t accepted() const { return accepted_.load(); }

 private:
  std::vector<int> fds_;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> accepted_{0};
  std::thread thread_;
};

// Redirects connects to `from` to `to`; with hold, keeps every such done() until taken.
class HoldingClassifier : public Classifier {
 public:
  HoldingClassifier(Endpoint from, Endpoint to, bool hold) : from_(from), to_(to), hold_(hold) {}

  ConnectVerdict verdictFor(const Endpoint& remote) const {
    ConnectVerdict v;
    v.finalRemote = remote;
    if (remote == from_) {
      v.finalRemote = to_;
      v.redirected = true;
    }
    v.history = redirect::History::create();
    return v;
  }
  void classify(StackHook hook, const StackRequest& request, StackDone done) override {
    if (hook != StackHook::Connect) {  // binds (and any other hook) as asked
      done(permitUnchanged(request));
      return;
    }
    classified_.fetch_add(1, std::memory_order_relaxed);
    if (!hold_ || !(request.remote == from_)) {
      done(verdictFor(request.remote));
      return;
    }
    std::lock_guard lock(mu_);
    held_.push_back(std::move(done));
    heldCount_.store(held_.size(), std::memory_order_release);
  }
  void connectionClosed(const std::shared_ptr<redirect::History>&) override {}

  size_t held() const { return heldCount_.load(std::memory_order_acquire); }
  uint64_t classified() const { return classified_.load(std::memory_order_relaxed); }
  std::vector<ConnectDone> takeHeld() {
    std::lock_guard lock(mu_);
    heldCount_.store(0);
    return std::move(held_);
  }

 private:
  Endpoint from_, to_;
  bool hold_;
  std::mutex mu_;  // guards held_
  std::vector<ConnectDone> held_;
  std::atomic<size_t> heldCount_{0};
  std::atomic<uint64_t> classified_{0};
};

// One client process (supervised, or not in the bare phase) and its pipes.
struct SupervisedClient {
  int n = 0;
  std::unique_ptr<linux_backend::Supervisor> sup;  // null in the bare phase
  pid_t pid = -1;
  int in = -1;                          // the client's stdin (our end)
  std::unique_ptr<LineReader> out;      // the client's stdout
  int outFd = -1;
  bool finished = false;
  int status = 0;
  // Ends the client (its stdin closes) and collects its exit status.
  int finish() {
    if (finished) return status;
    finished = true;
    if (in >= 0) ::close(in);
    if (sup) {
      status = sup->wait();
    } else {
      int raw = 0;
      while (::waitpid(pid, &raw, 0) < 0 && errno == EINTR) {
      }
      status = linux_backend::exitStatusOf(raw);
    }
    if (outFd >= 0) ::close(outFd);
    return status;
  }
};

// Starts `argv` with the given stdout and stdin (-1: ours) and no supervisor: the bare phase's
// clients, and the phase processes. It dies with us. Returns the pid, or -1 with errno set.
pid_t spawnPlain(const std::vector<std::string>& argv, int stdinFd, int stdoutFd) {
  std::vector<char*> a;
  for (const auto& arg : argv) a.push_back(const_cast<char*>(arg.c_str()));
  a.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if ((stdinFd >= 0 && ::dup2(stdinFd, 0) < 0) || ::dup2(stdoutFd, 1) < 0) ::_exit(126);
    ::execv(a[0], a.data());
    ::_exit(127);
  }
  return pid;
}

enum class RealMode { Bare, Inline, Pended };

// One real-process phase: N connects from `listeners` client processes. Inline and Pended put
// each client under its own Supervisor (its own seccomp listener), all served by this process
// with one classifier, which redirects every connect inline or holds them all (Pended). Bare runs
// the same clients unsupervised, straight to the server: the machine's own cost of waking N
// threads and connecting them. Prints RESULT; returns the exit code.
int runRealPhase(RealMode mode, int n, int listeners, const std::string& self) {
  const bool pend = mode == RealMode::Pended;
  const bool bare = mode == RealMode::Bare;
  const char* name = pend ? "real/pended" : bare ? "real/bare" : "real/inline";
  // Per pended connect the supervisor holds a duplicate of the client's socket until it is
  // completed, and per client thread a cached pidfd: the task caches of all its interceptors
  // share one budget of RLIMIT_NOFILE / 4 entries, at most kTaskCacheEntries (task_cache.cpp).
  long need = (pend ? n : 0) + std::min<long>(n, kTaskCacheEntries) + 256;
  const long fdLimit = raiseFdLimit(need);
  if (fdLimit < need) need = (pend ? n : 0) + std::min<long>({n, kTaskCacheEntries, fdLimit / 4}) + 256;
  if (fdLimit < need) {
    std::fprintf(stderr,
                 "pend_scale %s: the supervisor needs about %ld file descriptors for %d connects, "
                 "RLIMIT_NOFILE allows %ld (raise the hard limit, ulimit -Hn, or pass a smaller N)\n",
                 name, need, n, fdLimit);
    return 3;
  }
  Server server(n);
  if (server.port() == 0) {
    std::fprintf(stderr, "pend_scale %s: cannot listen on 127.0.0.1: %s\n", name, std::strerror(errno));
    return 1;
  }
  const Endpoint orig = Endpoint::v4(0x7f000002, kOrigPort);
  const Endpoint final = Endpoint::v4(0x7f000001, static_cast<uint16_t>(server.port()));
  HoldingClassifier classifier(orig, final, pend);
  // Declared after `classifier`: the supervisors go first (they kill clients still running).
  std::vector<SupervisedClient> clients(static_cast<size_t>(listeners));
  auto fail = [&](const std::string& why) {
    std::fprintf(stderr, "pend_scale %s: %s\n", name, why.c_str());
    for (auto& c : clients) {
      if (c.pid > 0 && !c.finished) ::kill(c.pid, SIGKILL);
    }
    for (auto& c : clients) {
      if (c.pid > 0) c.finish();
    }
    return 1;
  };

  for (int i = 0; i < listeners; ++i) {
    SupervisedClient& c = clients[static_cast<size_t>(i)];
    c.n = n / listeners + (i < n % listeners ? 1 : 0);
    int toClient[2], fromClient[2];
    if (::pipe2(toClient, O_CLOEXEC) != 0) return fail("pipe: " + std::string(std::strerror(errno)));
    if (::pipe2(fromClient, O_CLOEXEC) != 0) {
      ::close(toClient[0]);
      ::close(toClient[1]);
      return fail("pipe: " + std::string(std::strerror(errno)));
    }
    c.in = toClient[1];
    c.outFd = fromClient[0];
    c.out = std::make_unique<LineReader>(c.outFd);
    if (bare) {
      c.pid = spawnPlain({self, "--client", "127.0.0.1", std::to_string(server.port()),
                          std::to_string(c.n)},
                         toClient[0], fromClient[1]);
      const int err = errno;
      ::close(toClient[0]);
      ::close(fromClient[1]);
      if (c.pid < 0) return fail("fork: " + std::string(std::strerror(err)));
      continue;
    }
    linux_backend::SupervisorOptions o;
    o.stdinFd = toClient[0];
    o.stdoutFd = fromClient[1];
    c.sup = std::make_unique<linux_backend::Supervisor>(classifier, o);
    auto started = c.sup->start({self, "--client", "127.0.0.2", std::to_string(kOrigPort),
                                 std::to_string(c.n)});
    ::close(toClient[0]);
    ::close(fromClient[1]);
    if (!started.ok) return fail(started.error);
    c.pid = started.pid;
  }
  double clientParkedKb = 0;
  for (auto& c : clients) {
    auto ready = c.out->line(60 * 1000);
    if (!ready || ready->rfind("ready", 0) != 0) {
      return fail(c.out->timedOut() ? "a client did not start its threads in time"
                                    : "a client exited before it was ready (see its message above)");
    }
    clientParkedKb += parseFigures(*ready).at("rss_kb");
  }
  std::fprintf(stderr, "pend_scale %s: %d client process%s ready with %d threads in all (client "
               "RSS %.1f MiB in all)\n", name, listeners, listeners == 1 ? "" : "es", n,
               clientParkedKb / 1024.0);
  const Memory before = readMemory();
  const uint64_t dumpsBefore = linux_backend::SharedSocketListings::process().dumps();
  for (auto& c : clients) {
    if (!writeAll(c.in, "go\n")) return fail("cannot write to a client");
  }
  const int64_t goNs = nowNs();

  Figures fig;
  fig["n"] = n;
  fig["listeners"] = listeners;
  fig["go_ns"] = static_cast<double>(goNs);  // CLOCK_MONOTONIC: `perf record -k mono` + --time
  fig["before_rss_kb"] = before.rssKb;
  fig["client_parked_rss_kb"] = clientParkedKb;
  std::thread completer;
  int64_t completeStartNs = 0, completerEndNs = 0;
  if (pend) {
    int64_t nextReport = goNs + 1000000000;
    size_t lastHeld = 0;
    int64_t lastProgress = goNs;
    while (classifier.held() < static_cast<size_t>(n)) {
      const int64_t now = nowNs();
      if (classifier.held() != lastHeld) {
        lastHeld = classifier.held();
        lastProgress = now;
      } else if (now - lastProgress > int64_t{kStallSeconds} * 1000000000) {
        return fail("stalled: " + std::to_string(lastHeld) + " of " + std::to_string(n) +
                    " connects held, none more in " + std::to_string(kStallSeconds) + " s");
      }
      for (auto& c : clients) {
        if (c.out->ready()) {
          return fail("a client finished before all connects were held: " +
                      c.out->line(1000).value_or("(no report)"));
        }
      }
      if (now >= nextReport) {
        std::fprintf(stderr, "pend_scale %s: %zu/%d connects held (%.1f s)\n", name,
                     classifier.held(), n, msBetween(goNs, now) / 1000.0);
        nextReport += 1000000000;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    const int64_t heldNs = nowNs();
    const Memory held = readMemory();
    double clientHeldKb = 0;
    for (auto& c : clients) clientHeldKb += static_cast<double>(readMemory(c.pid).rssKb);
    fig["hold_ms"] = msBetween(goNs, heldNs);
    fig["held_rss_kb"] = held.rssKb;
    fig["held_hwm_kb"] = held.hwmKb;
    fig["bytes_per_item"] = bytesPer(before, held, n);
    fig["client_held_rss_kb"] = clientHeldKb;
    std::fprintf(stderr,
                 "pend_scale %s: all %d connects held after %.0f ms; supervisor RSS %.1f -> %.1f MiB; "
                 "completing them in shuffled order\n",
                 name, n, msBetween(goNs, heldNs), before.rssKb / 1024.0, held.rssKb / 1024.0);
    completer = std::thread([&] {
      std::vector<ConnectDone> dones = classifier.takeHeld();
      std::shuffle(dones.begin(), dones.end(), std::mt19937(20261126));
      completeStartNs = nowNs();
      for (auto& done : dones) {
        done(classifier.verdictFor(orig));
        done = nullptr;  // drops the call (and the supervisor's duplicate of the socket)
      }
      completerEndNs = nowNs();
    });
  }

  int ok = 0, firstErr = 0;
  double lastNs = 0, firstGoNs = 0, clientHwmKb = 0;
  bool stalled = false, lost = false;
  for (auto& c : clients) {
    std::optional<std::string> doneLine;
    uint64_t lastAccepted = server.accepted();
    for (int idle = 0; idle < kStallSeconds;) {
      doneLine = c.out->line(1000);
      if (doneLine || !c.out->timedOut()) break;
      const uint64_t accepted = server.accepted();
      idle = accepted == lastAccepted ? idle + 1 : 0;
      lastAccepted = accepted;
      std::fprintf(stderr, "pend_scale %s: waiting for the clients (%llu connects classified, "
                   "%llu accepted by the server)\n", name,
                   static_cast<unsigned long long>(classifier.classified()),
                   static_cast<unsigned long long>(accepted));
    }
    if (!doneLine || doneLine->rfind("done", 0) != 0) {
      (c.out->timedOut() ? stalled : lost) = true;
      break;
    }
    const Figures done = parseFigures(*doneLine);
    ok += static_cast<int>(done.at("ok"));
    if (firstErr == 0) firstErr = static_cast<int>(done.at("first_errno"));
    lastNs = std::max(lastNs, done.at("last_ns"));
    firstGoNs = firstGoNs == 0 ? done.at("go_ns") : std::min(firstGoNs, done.at("go_ns"));
    clientHwmKb += done.at("hwm_kb");
  }
  if (completer.joinable()) completer.join();
  if (stalled) {
    return fail("stalled: the server accepted no connection for " + std::to_string(kStallSeconds) + " s");
  }
  if (lost) return fail("a client exited without a report (see its message above)");
  const Memory after = readMemory();
  fig["ok"] = ok;
  fig["after_rss_kb"] = after.rssKb;
  fig["hwm_kb"] = after.hwmKb;
  fig["client_hwm_kb"] = clientHwmKb;
  if (pend) {
    fig["complete_ms"] = (lastNs - static_cast<double>(completeStartNs)) / 1e6;
    fig["completer_ms"] = msBetween(completeStartNs, completerEndNs);
  } else {
    fig["complete_ms"] = (lastNs - firstGoNs) / 1e6;
    if (!bare) fig["bytes_per_item"] = bytesPer(before, after, n);
  }
  int badStatus = 0;
  linux_backend::InterceptorStats st;
  for (auto& c : clients) {
    const int status = c.finish();
    if (status != 0 && badStatus == 0) badStatus = status;
    if (!c.sup) continue;
    const auto s = c.sup->interceptor()->stats();
    st.notifications += s.notifications;
    st.pended += s.pended;
    st.redirected += s.redirected;
    st.failed += s.failed + s.blocked;
  }
  fig["notifications"] = static_cast<double>(st.notifications);
  fig["pended"] = static_cast<double>(st.pended);
  fig["redirected"] = static_cast<double>(st.redirected);
  fig["failed_closed"] = static_cast<double>(st.failed);
  // The reapers' sock_diag dumps from go until the clients were finished (each walks every
  // socket of the host; the reapers of this process share the ones they make at the same tick).
  fig["diag_dumps"] = static_cast<double>(linux_backend::SharedSocketListings::process().dumps() - dumpsBefore);
  fig["phase_ms"] = msBetween(goNs, nowNs());
  printResult(fig);
  if (ok != n) {
    std::fprintf(stderr, "pend_scale %s: %d of %d client connects failed (first error: %s)%s\n", name,
                 n - ok, n, std::strerror(firstErr),
                 firstErr == EACCES ? " - EACCES means the supervisor could not inspect the call "
                                      "(out of file descriptors?)"
                                    : "");
    return 1;
  }
  if (badStatus != 0) {
    std::fprintf(stderr, "pend_scale %s: a client exited with status %d\n", name, badStatus);
    return 1;
  }
  return 0;
}

// =============================== the driver ====================================================

struct PhaseResult {
  bool ok = false;
  Figures fig;
};

// Runs `self --phase NAME N` with a time limit; its stderr passes through.
PhaseResult runPhase(const std::string& self, const std::string& phase, int n, int listeners) {
  PhaseResult r;
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return r;
  // The phase and, through it, its clients die with us.
  const pid_t pid = spawnPlain({self, "--phase", phase, std::to_string(n), std::to_string(listeners)},
                               -1, out[1]);
  ::close(out[1]);
  if (pid < 0) {
    ::close(out[0]);
    return r;
  }
  LineReader reader(out[0]);
  const int64_t deadline = nowNs() + int64_t{kPhaseSeconds} * 1000000000;
  bool killed = false;
  for (;;) {
    int64_t left = (deadline - nowNs()) / 1000000;
    if (left <= 0) {
      std::fprintf(stderr, "pend_scale: phase %s did not finish within %d s: killed\n",
                   phase.c_str(), kPhaseSeconds);
      ::kill(pid, SIGKILL);
      killed = true;
      break;
    }
    auto line = reader.line(static_cast<int>(std::min<int64_t>(left, 1000)));
    if (!line) {
      if (reader.timedOut()) continue;
      break;  // EOF: the phase ended
    }
    if (line->rfind("RESULT", 0) == 0) {
      r.fig = parseFigures(*line);
    } else {
      std::fprintf(stderr, "%s\n", line->c_str());
    }
  }
  ::close(out[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.ok = !killed && linux_backend::exitStatusOf(status) == 0 && !r.fig.empty();
  if (!r.ok && !killed) {
    std::fprintf(stderr, "pend_scale: phase %s failed (exit status %d)\n", phase.c_str(),
                 linux_backend::exitStatusOf(status));
  }
  return r;
}

double get(const Figures& f, const char* key) {
  auto it = f.find(key);
  return it == f.end() ? 0.0 : it->second;
}

void printRow(const char* name, const Figures& f, const Figures* baseline) {
  if (f.empty()) {
    std::printf("%-34s FAILED\n", name);
    return;
  }
  char held[32] = "-", timeRatio[32] = "-", mem[48] = "-", bytes[32] = "-", bytesRatio[32] = "-";
  if (f.count("hold_ms")) std::snprintf(held, sizeof held, "%.1f", get(f, "hold_ms"));
  if (f.count("classify_ms") && f.count("held_rss_kb"))
    std::snprintf(held, sizeof held, "%.1f", get(f, "classify_ms"));
  double complete = f.count("complete_ms") ? get(f, "complete_ms") : get(f, "classify_ms");
  if (baseline != nullptr) {
    double b = baseline->count("complete_ms") ? get(*baseline, "complete_ms") : get(*baseline, "classify_ms");
    if (b > 0) std::snprintf(timeRatio, sizeof timeRatio, "%.2fx", complete / b);
  }
  if (f.count("before_rss_kb")) {
    double peak = f.count("held_rss_kb") ? get(f, "held_rss_kb") : get(f, "after_rss_kb");
    std::snprintf(mem, sizeof mem, "%.1f -> %.1f", get(f, "before_rss_kb") / 1024.0, peak / 1024.0);
  }
  if (f.count("bytes_per_item")) {
    std::snprintf(bytes, sizeof bytes, "%.0f", get(f, "bytes_per_item"));
    if (baseline != nullptr && get(*baseline, "bytes_per_item") > 0)
      std::snprintf(bytesRatio, sizeof bytesRatio, "%.2fx",
                    get(f, "bytes_per_item") / get(*baseline, "bytes_per_item"));
  }
  std::printf("%-34s %9s %11.1f %8s %20s %10s %8s\n", name, held, complete, timeRatio, mem, bytes,
              bytesRatio);
}

int runAll(const std::string& self, int n, int listeners) {
  if (auto missing = linux_backend::checkLinuxFeatures()) {
    std::fprintf(stderr, "%s\n", missing->c_str());
    return 1;
  }
  const int64_t t0 = nowNs();
  const char* phases[] = {"engine-inline", "engine-pended", "real-bare", "real-inline", "real-pended"};
  std::map<std::string, PhaseResult> r;
  bool ok = true;
  for (const char* p : phases) {
    std::fprintf(stderr, "pend_scale: phase %s (N=%d)\n", p, n);
    r[p] = runPhase(self, p, n, listeners);
    ok = ok && r[p].ok;
  }
  const Figures& ei = r["engine-inline"].fig;
  const Figures& ep = r["engine-pended"].fig;
  const Figures& rb = r["real-bare"].fig;
  const Figures& ri = r["real-inline"].fig;
  const Figures& rp = r["real-pended"].fig;

  const std::string clientsText =
      listeners == 1 ? "1 client process under one Supervisor (one seccomp listener)"
                     : std::to_string(listeners) + " client processes, each under its own Supervisor "
                                                   "(seccomp listener), in one supervisor process";
  std::printf("pend_scale: N=%d concurrent connects, redirected from 127.0.0.2:%d to a loopback "
              "server; real: %s (%.1f s in all)\n",
              n, kOrigPort, clientsText.c_str(), msBetween(t0, nowNs()) / 1000.0);
  std::printf("%-34s %9s %11s %8s %20s %10s %8s\n", "case", "held (ms)", "all done ms", "ratio",
              "RSS MiB before->peak", "bytes/conn", "ratio");
  printRow("engine: inline redirect (baseline)", ei, nullptr);
  printRow("engine: pended, completed shuffled", ep, &ei);
  printRow("real: unsupervised (floor)", rb, nullptr);
  printRow("real: inline redirect (baseline)", ri, nullptr);
  printRow("real: pended, completed shuffled", rp, &ri);
  std::printf("  held: time until all N were pended (engine: N classify calls; real: from the "
              "client's go until all N\n        connects were parked in the kernel and held by the "
              "classifier); all done: engine inline = N classifies,\n        pended = first "
              "completion until the last answer (engine: medians of 5 rounds); real inline = go until the last connect "
              "returned,\n        pended = first completion until the last client connect returned. "
              "bytes/conn: supervisor (engine\n        process) RSS growth per pended connect "
              "while held, per connection for the inline baselines (histories\n        and the "
              "connection table kept, as for open connections).\n");
  if (get(ri, "complete_ms") > 0 && get(rp, "complete_ms") > 0) {
    std::printf("ratio real pended/inline: complete all %.2fx, hold + complete %.2fx; bytes per "
                "pended connect / per connection %.2fx\n",
                get(rp, "complete_ms") / get(ri, "complete_ms"),
                (get(rp, "hold_ms") + get(rp, "complete_ms")) / get(ri, "complete_ms"),
                get(ri, "bytes_per_item") > 0 ? get(rp, "bytes_per_item") / get(ri, "bytes_per_item") : 0.0);
  }
  if (get(rb, "complete_ms") > 0 && get(ri, "complete_ms") > 0) {
    std::printf("ratio real/unsupervised: inline all done %.2fx", get(ri, "complete_ms") / get(rb, "complete_ms"));
    if (get(rp, "hold_ms") > 0)
      std::printf(", pended held %.2fx, pended all done %.2fx", get(rp, "hold_ms") / get(rb, "complete_ms"),
                  get(rp, "complete_ms") / get(rb, "complete_ms"));
    std::printf(" (the unsupervised clients' go until their last connect returned)\n");
  }
  if (get(ei, "classify_ms") > 0 && get(ep, "complete_ms") > 0) {
    std::printf("ratio engine pended/inline: complete all %.2fx, pend + complete %.2fx; bytes per "
                "pended classify / per connection %.2fx\n",
                get(ep, "complete_ms") / get(ei, "classify_ms"),
                (get(ep, "classify_ms") + get(ep, "complete_ms")) / get(ei, "classify_ms"),
                get(ei, "bytes_per_item") > 0 ? get(ep, "bytes_per_item") / get(ei, "bytes_per_item") : 0.0);
  }
  auto mib = [](const Figures& f, const char* key) { return get(f, key) / 1024.0; };
  if (get(rp, "held_rss_kb") > 0) {
    std::printf("memory, real pended: supervisor VmRSS %.1f MiB before, %.1f MiB while %d held "
                "(VmHWM %.1f), %.1f MiB after completing (connections open), VmHWM %.1f MiB; "
                "inline baseline %.1f -> %.1f MiB\n",
                mib(rp, "before_rss_kb"), mib(rp, "held_rss_kb"), n, mib(rp, "held_hwm_kb"),
                mib(rp, "after_rss_kb"), mib(rp, "hwm_kb"), mib(ri, "before_rss_kb"),
                mib(ri, "after_rss_kb"));
    std::printf("memory, client processes (%.0f, summed): %d threads with %zu KiB stacks, VmRSS "
                "%.1f MiB parked, %.1f MiB while held, VmHWM %.1f MiB\n",
                get(rp, "listeners"), n, kClientStack / 1024, mib(rp, "client_parked_rss_kb"),
                mib(rp, "client_held_rss_kb"), mib(rp, "client_hwm_kb"));
  }
  if (get(ep, "held_rss_kb") > 0) {
    std::printf("memory, engine pended: VmRSS %.1f MiB before, %.1f MiB while %d pended, %.1f MiB "
                "after completing (histories kept), VmHWM %.1f MiB; inline baseline %.1f -> %.1f MiB\n",
                mib(ep, "before_rss_kb"), mib(ep, "held_rss_kb"), n, mib(ep, "after_rss_kb"),
                mib(ep, "hwm_kb"), mib(ei, "before_rss_kb"), mib(ei, "after_rss_kb"));
  }
  if (get(rp, "notifications") > 0) {
    std::printf("interceptor (pended run): %.0f notifications, %.0f pended, %.0f redirected, %.0f "
                "failed closed; engine pended run: %.0f verifier violations\n",
                get(rp, "notifications"), get(rp, "pended"), get(rp, "redirected"),
                get(rp, "failed_closed"), get(ep, "violations"));
    std::printf("reapers: %.0f sock_diag dumps for %.0f supervisors in the inline run (%.1f s), %.0f in "
                "the pended run (%.1f s)\n",
                get(ri, "diag_dumps"), get(ri, "listeners"), get(ri, "phase_ms") / 1000.0,
                get(rp, "diag_dumps"), get(rp, "phase_ms") / 1000.0);
  }
  if (!ok) {
    std::printf("pend_scale: FAILED (see the messages above)\n");
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 5 && std::strcmp(argv[1], "--client") == 0) {
    return runClient(argv[2], std::atoi(argv[3]), std::atoi(argv[4]));
  }
  char self[4096] = {};
  if (::readlink("/proc/self/exe", self, sizeof self - 1) <= 0) return 1;
  if (argc == 5 && std::strcmp(argv[1], "--phase") == 0) {
    const std::string phase = argv[2];
    const int n = std::atoi(argv[3]);
    const int listeners = std::atoi(argv[4]);
    if (n <= 0 || listeners <= 0 || listeners > n) return 2;
    if (phase == "engine-inline") return runEnginePhase(false, n);
    if (phase == "engine-pended") return runEnginePhase(true, n);
    if (phase == "real-bare") return runRealPhase(RealMode::Bare, n, listeners, self);
    if (phase == "real-inline") return runRealPhase(RealMode::Inline, n, listeners, self);
    if (phase == "real-pended") return runRealPhase(RealMode::Pended, n, listeners, self);
    std::fprintf(stderr, "pend_scale: unknown phase %s\n", phase.c_str());
    return 2;
  }
  int n = kDefaultN;
  int listeners = kDefaultListeners;
  if (argc > 1) n = std::atoi(argv[1]);
  if (argc > 2) listeners = std::atoi(argv[2]);
  if (argc > 3 || n <= 0 || listeners <= 0 || listeners > n) {
    std::fprintf(stderr,
                 "usage: pend_scale [N [LISTENERS]]   (N concurrent connects, default %d, from "
                 "LISTENERS supervised client processes, default %d)\n",
                 kDefaultN, kDefaultListeners);
    return 2;
  }
  return runAll(self, n, listeners);
}
