// bench/proxy_paths/tool: the server and the client of bench/proxy_paths.sh (issue 13).
//
//   tool serve HOST SETUP_PORT BULK_PORT BYTES
//       setup listener: per connection, reads the 16-byte request, writes a 64-byte reply, closes;
//       bulk listener: per connection, reads 1 byte, writes BYTES bytes, closes.
//       Port 0: any free port. Prints "serve: ready SETUP_PORT BULK_PORT" once both listen; runs
//       until killed.
//   tool client HOST SETUP_PORT BULK_PORT N BYTES
//       waits (at most 15 s) until one request/reply works (a proxy may still be starting), then
//       20 unmeasured connections, then N measured ones, each: socket + connect + send 16 bytes +
//       read the 64-byte reply + close, timed inside this process; then one download of BYTES.
//       Prints "client: setup n=N median_us=M p90_us=P" and "client: bulk bytes=B mbps=R".
// The client is the program run under each path, so openwfp run's start-up is not in the figures.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

sockaddr_in addrOf(const char* host, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
    std::fprintf(stderr, "proxy_paths tool: not an IPv4 address: %s\n", host);
    std::exit(2);
  }
  return a;
}

void setTimeouts(int fd, int seconds) {
  timeval tv{seconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

bool readFull(int fd, char* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r <= 0) return false;
    got += static_cast<size_t>(r);
  }
  return true;
}

bool writeFull(int fd, const char* buf, size_t n) {
  size_t put = 0;
  while (put < n) {
    ssize_t w = write(fd, buf + put, n - put);
    if (w <= 0) return false;
    put += static_cast<size_t>(w);
  }
  return true;
}

int listenOn(const char* host, int port) {
  int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a = addrOf(host, port);
  if (bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(l, 4096) != 0) {
    std::fprintf(stderr, "proxy_paths tool: listen %s:%d: %s\n", host, port, std::strerror(errno));
    std::exit(1);
  }
  return l;
}

int serve(const char* host, int setupPort, int bulkPort, long long bytes) {
  int ls = listenOn(host, setupPort);
  int lb = listenOn(host, bulkPort);
  std::thread bulk([lb, bytes] {
    std::vector<char> chunk(1 << 20, 'b');
    for (;;) {
      int c = accept4(lb, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::thread([c, bytes, &chunk] {
        setTimeouts(c, 30);
        char one;
        if (readFull(c, &one, 1)) {
          long long left = bytes;
          while (left > 0) {
            size_t n = static_cast<size_t>(std::min<long long>(left, static_cast<long long>(chunk.size())));
            if (!writeFull(c, chunk.data(), n)) break;
            left -= static_cast<long long>(n);
          }
        }
        close(c);
      }).detach();
    }
  });
  sockaddr_in a{};
  socklen_t len = sizeof a;
  getsockname(ls, reinterpret_cast<sockaddr*>(&a), &len);
  int sp = ntohs(a.sin_port);
  len = sizeof a;
  getsockname(lb, reinterpret_cast<sockaddr*>(&a), &len);
  std::printf("serve: ready %d %d\n", sp, ntohs(a.sin_port));
  std::fflush(stdout);
  // Requests are sequential (one client at a time): answered inline, no thread per connection.
  char req[16];
  char reply[64];
  std::memset(reply, 'r', sizeof reply);
  for (;;) {
    int c = accept4(ls, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    setTimeouts(c, 5);
    if (readFull(c, req, sizeof req)) writeFull(c, reply, sizeof reply);
    close(c);
  }
}

// One request/reply; returns its duration in microseconds, or -1 (errno kept in *err).
double exchange(const sockaddr_in& a, int* err) {
  char req[16];
  char reply[64];
  std::memset(req, 'q', sizeof req);
  auto t0 = Clock::now();
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *err = errno;
    return -1;
  }
  setTimeouts(fd, 5);
  bool ok = connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0 && writeFull(fd, req, sizeof req) &&
            readFull(fd, reply, sizeof reply);
  *err = ok ? 0 : (errno ? errno : EPIPE);
  close(fd);
  auto t1 = Clock::now();
  return ok ? std::chrono::duration<double, std::micro>(t1 - t0).count() : -1;
}

int client(const char* host, int setupPort, int bulkPort, int n, long long bytes) {
  sockaddr_in sa = addrOf(host, setupPort);
  int err = 0;
  auto deadline = Clock::now() + std::chrono::seconds(15);
  while (exchange(sa, &err) < 0) {
    if (Clock::now() > deadline) {
      std::fprintf(stderr, "client: no reply from %s:%d within 15 s (last: %s)\n", host, setupPort, std::strerror(err));
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (int i = 0; i < 20; ++i) exchange(sa, &err);
  std::vector<double> us;
  us.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    double t = exchange(sa, &err);
    if (t < 0) {
      std::fprintf(stderr, "client: request %d failed: %s\n", i, std::strerror(err));
      return 1;
    }
    us.push_back(t);
  }
  std::sort(us.begin(), us.end());
  std::printf("client: setup n=%d median_us=%.1f p90_us=%.1f\n", n, us[us.size() / 2], us[us.size() * 9 / 10]);
  std::fflush(stdout);

  sockaddr_in ba = addrOf(host, bulkPort);
  auto t0 = Clock::now();
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  setTimeouts(fd, 30);
  if (connect(fd, reinterpret_cast<sockaddr*>(&ba), sizeof ba) != 0 || !writeFull(fd, "B", 1)) {
    std::fprintf(stderr, "client: bulk connect %s:%d: %s\n", host, bulkPort, std::strerror(errno));
    return 1;
  }
  std::vector<char> buf(1 << 20);
  long long got = 0;
  ssize_t r;
  while ((r = read(fd, buf.data(), buf.size())) > 0) got += r;
  close(fd);
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  if (got != bytes) {
    std::fprintf(stderr, "client: bulk received %lld of %lld bytes\n", got, bytes);
    return 1;
  }
  std::printf("client: bulk bytes=%lld mbps=%.1f\n", got, static_cast<double>(got) / 1e6 / secs);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 6 && std::strcmp(argv[1], "serve") == 0)
    return serve(argv[2], std::atoi(argv[3]), std::atoi(argv[4]), std::atoll(argv[5]));
  if (argc == 7 && std::strcmp(argv[1], "client") == 0)
    return client(argv[2], std::atoi(argv[3]), std::atoi(argv[4]), std::atoi(argv[5]), std::atoll(argv[6]));
  std::fprintf(stderr,
               "usage: tool serve HOST SETUP_PORT BULK_PORT BYTES | tool client HOST SETUP_PORT BULK_PORT N BYTES\n");
  return 2;
}
