// bench/machine_costs.cpp - what this machine charges for the operations a redirected connect is
// made of, so figures taken on different machines can be compared (issue 13). Virtual machines
// differ most here: in a PVM guest every system call and every switch between processes goes
// through the hypervisor.
//
//   build/default/bench/machine_costs [ITERATIONS]   (default 20000)
//
// Prints, each the median of 5 runs of ITERATIONS:
//   syscall           getppid(), the cheapest system call
//   getsockopt        SO_TYPE on a TCP socket, as the interceptor's decode makes several
//   process, 1 CPU    a one-byte pipe round trip to a child process, both pinned to CPU 0:
//                     two switches between address spaces and four system calls
//   thread, 1 CPU     the same to a thread of this process (no address-space switch)
//   process, any CPU  the round trip with no pinning: the scheduler's choice, usually a wake-up
//                     of the other (idle) CPU each way
// The ratio column is against the syscall line. Nothing here touches the network.
#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double nsPerOp(int iterations, const std::function<void()>& op) {
  const auto t0 = Clock::now();
  for (int i = 0; i < iterations; ++i) op();
  return std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / iterations;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

bool pinToCpu0() {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(0, &set);
  return ::sched_setaffinity(0, sizeof set, &set) == 0;
}

// The peer of a ping-pong: reads one byte from `in`, writes it to `out`, until EOF.
void echo(int in, int out) {
  char c;
  while (::read(in, &c, 1) == 1) {
    if (::write(out, &c, 1) != 1) break;
  }
}

enum class Peer { Process, Thread };

// Nanoseconds per round trip over two pipes, or a negative number when the setup failed.
double pingPong(int iterations, Peer peer, bool pinned) {
  cpu_set_t before;
  CPU_ZERO(&before);
  ::sched_getaffinity(0, sizeof before, &before);
  if (pinned && !pinToCpu0()) return -1;  // the child and the thread inherit it
  int toPeer[2], fromPeer[2];
  const bool piped = ::pipe2(toPeer, O_CLOEXEC) == 0;
  if (!piped || ::pipe2(fromPeer, O_CLOEXEC) != 0) {
    if (piped) {
      ::close(toPeer[0]);
      ::close(toPeer[1]);
    }
    ::sched_setaffinity(0, sizeof before, &before);
    return -1;
  }
  pid_t child = -1;
  std::thread thread;
  if (peer == Peer::Process) {
    child = ::fork();
    if (child == 0) {
      ::close(toPeer[1]);
      ::close(fromPeer[0]);
      echo(toPeer[0], fromPeer[1]);
      ::_exit(0);
    }
  } else {
    thread = std::thread(echo, toPeer[0], fromPeer[1]);
  }
  double ns = -1;
  if (peer == Peer::Thread || child > 0) {
    char c = 'x';
    ns = nsPerOp(iterations, [&] {
      if (::write(toPeer[1], &c, 1) != 1 || ::read(fromPeer[0], &c, 1) != 1) std::abort();
    });
  }
  ::close(toPeer[1]);  // the peer sees EOF
  if (child > 0) ::waitpid(child, nullptr, 0);
  if (thread.joinable()) thread.join();
  ::close(toPeer[0]);
  ::close(fromPeer[0]);
  ::close(fromPeer[1]);
  ::sched_setaffinity(0, sizeof before, &before);
  return ns;
}

}  // namespace

int main(int argc, char** argv) {
  const int iterations = argc > 1 ? std::atoi(argv[1]) : 20000;
  if (iterations <= 0) {
    std::fprintf(stderr, "machine_costs: ITERATIONS must be a positive number\n");
    return 2;
  }
  const int sock = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0) {
    std::perror("machine_costs: socket");
    return 1;
  }
  struct Line {
    const char* name;
    std::function<double()> run;
  };
  const std::vector<Line> lines = {
      {"syscall (getppid)", [&] { return nsPerOp(iterations, [] { ::syscall(SYS_getppid); }); }},
      {"getsockopt SO_TYPE",
       [&] {
         return nsPerOp(iterations, [&] {
           int v = 0;
           socklen_t len = sizeof v;
           ::getsockopt(sock, SOL_SOCKET, SO_TYPE, &v, &len);
         });
       }},
      {"process, 1 CPU", [&] { return pingPong(iterations / 4, Peer::Process, true); }},
      {"thread, 1 CPU", [&] { return pingPong(iterations / 4, Peer::Thread, true); }},
      {"process, any CPU", [&] { return pingPong(iterations / 4, Peer::Process, false); }},
  };
  std::printf("machine_costs: %d iterations (round trips: %d), median of 5 runs; %u CPUs\n", iterations,
              iterations / 4, std::thread::hardware_concurrency());
  std::printf("%-22s %12s %8s\n", "operation", "us", "ratio");
  double base = 0;
  for (const auto& l : lines) {
    std::vector<double> runs;
    for (int r = 0; r < 5; ++r) runs.push_back(l.run());
    const double ns = median(runs);
    if (ns < 0) {
      std::printf("%-22s %12s\n", l.name, "failed");
      continue;
    }
    if (base == 0) base = ns;
    std::printf("%-22s %12.2f %7.1fx\n", l.name, ns / 1000, ns / base);
  }
  ::close(sock);
  return 0;
}
