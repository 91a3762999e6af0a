// bench/relay_throughput: bytes through the proxy's splice relay vs a direct loopback transfer,
// measured side by side in one run (DESIGN.md target: relay >= 0.9x direct).
//
// Direct:   writer -> [loopback TCP] -> reader
// Relayed:  writer -> [TCP] -> relay (splice) -> [TCP] -> reader
// Each run moves the same number of bytes; the median of the runs is reported.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "proxy/relay.h"
#include "support/loopback.h"

using namespace openwfp;
using Clock = std::chrono::steady_clock;

namespace {
std::pair<int, int> tcpPair() {
  uint16_t port = 0;
  int l = testing::listenLoopback(&port);
  int a = testing::connectLoopback(port);
  int b = accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
  close(l);
  return {a, b};
}

// Writes `total` bytes into `in`, reads them from `out`; returns seconds.
double transfer(int in, int out, size_t total) {
  static std::vector<char> buf(1 << 20, 'b');
  auto t0 = Clock::now();
  std::thread writer([&] {
    size_t left = total;
    while (left > 0) {
      size_t n = std::min(left, buf.size());
      if (!testing::writeAll(in, buf.data(), n)) break;
      left -= n;
    }
    shutdown(in, SHUT_WR);
  });
  std::vector<char> rbuf(1 << 20);
  size_t got = 0;
  for (;;) {
    ssize_t n = read(out, rbuf.data(), rbuf.size());
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  writer.join();
  double s = std::chrono::duration<double>(Clock::now() - t0).count();
  if (got != total) {
    std::fprintf(stderr, "transfer lost data: %zu of %zu bytes\n", got, total);
    std::exit(1);
  }
  return s;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
}  // namespace

int main(int argc, char** argv) {
  size_t mb = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 512;
  int runs = argc > 2 ? std::atoi(argv[2]) : 5;
  size_t total = mb << 20;
  std::vector<double> direct, relayed;
  proxy::Relay relay;
  for (int r = 0; r < runs; ++r) {
    {  // direct
      auto [a, b] = tcpPair();
      direct.push_back(total / transfer(a, b, total) / 1e6);
      close(a);
      close(b);
    }
    {  // through the relay
      auto [client, proxyIn] = tcpPair();
      auto [proxyOut, server] = tcpPair();
      std::mutex mu;
      std::condition_variable cv;
      bool finished = false;
      relay.add(proxyIn, proxyOut, [&](const proxy::RelayStats&) {
        std::lock_guard lk(mu);
        finished = true;
        cv.notify_all();
      });
      relayed.push_back(total / transfer(client, server, total) / 1e6);
      close(client);  // lets the relay see EOF on the return direction
      shutdown(server, SHUT_WR);
      std::unique_lock lk(mu);
      cv.wait(lk, [&] { return finished; });
      close(server);
    }
  }
  double d = median(direct), p = median(relayed);
  std::printf("relay_throughput: %zu MiB x %d runs (median)\n", mb, runs);
  std::printf("  direct loopback   %8.0f MB/s\n", d);
  std::printf("  through relay     %8.0f MB/s\n", p);
  std::printf("  ratio relay/direct = %.2f (target >= 0.90)\n", p / d);
  return 0;
}
