// tests/linux/real_helpers.h - loopback servers, temporary files and process runners for the
// real-process tests. Servers listen only on 127.0.0.0/8 and ::1.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "openwfp/stack.h"

extern char** environ;

namespace openwfp::realtest {

inline std::string readFile(const std::string& path) {
  std::string out;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

// A temporary directory that every user may write to (the supervised command may run as nobody).
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/openwfp-real-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp");
    path_ = tmpl;
    ::chmod(path_.c_str(), 0777);
  }
  ~TempDir() {
    std::string cmd = "rm -rf '" + path_ + "'";
    [[maybe_unused]] int rc = std::system(cmd.c_str());
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline Endpoint socketEndpoint(int fd, bool peer) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  int rc = peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len)
                : ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  Endpoint ep;
  if (rc != 0) return ep;
  if (ss.ss_family == AF_INET) {
    auto* s = reinterpret_cast<sockaddr_in*>(&ss);
    ep.version = IpVersion::V4;
    std::memcpy(ep.addr.data(), &s->sin_addr, 4);
    ep.port = ntohs(s->sin_port);
  } else {
    auto* s = reinterpret_cast<sockaddr_in6*>(&ss);
    ep.version = IpVersion::V6;
    std::memcpy(ep.addr.data(), &s->sin6_addr, 16);
    ep.port = ntohs(s->sin6_port);
  }
  return ep;
}

inline int listenSocket(int type, const char* host) {
  bool v6 = std::strchr(host, ':') != nullptr;
  int fd = ::socket(v6 ? AF_INET6 : AF_INET, type | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_storage ss{};
  socklen_t len;
  if (v6) {
    auto* s = reinterpret_cast<sockaddr_in6*>(&ss);
    s->sin6_family = AF_INET6;
    inet_pton(AF_INET6, host, &s->sin6_addr);
    len = sizeof *s;
  } else {
    auto* s = reinterpret_cast<sockaddr_in*>(&ss);
    s->sin_family = AF_INET;
    inet_pton(AF_INET, host, &s->sin_addr);
    len = sizeof *s;
  }
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    throw std::runtime_error(std::string("bind ") + host + ": " + std::strerror(errno));
  }
  if (type == SOCK_STREAM) ::listen(fd, 128);
  return fd;
}

// A loopback TCP port on which nobody listens, for as long as the object lives: a socket bound to
// 127.0.0.1:0 that never listens, without SO_REUSEADDR, so no other test can take the port (a
// port found free and released would race with parallel tests). A connect to it is refused.
class ClosedPort {
 public:
  ClosedPort() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&sa), len) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
      throw std::runtime_error(std::string("ClosedPort: ") + std::strerror(errno));
    }
    port_ = ntohs(sa.sin_port);
  }
  ~ClosedPort() { ::close(fd_); }
  ClosedPort(const ClosedPort&) = delete;
  ClosedPort& operator=(const ClosedPort&) = delete;
  uint16_t port() const { return port_; }

 private:
  int fd_;
  uint16_t port_ = 0;
};

// A minimal HTTP/1.0 server: reads the request head, answers "hello from PORT", closes.
// onAccept runs on the server thread with the accepted socket before the answer.
class HttpServer {
 public:
  explicit HttpServer(const char* host = "127.0.0.1") : fd_(listenSocket(SOCK_STREAM, host)) {
    port_ = socketEndpoint(fd_, false).port;
    thread_ = std::thread([this] { run(); });
  }
  ~HttpServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  uint16_t port() const { return port_; }
  int accepts() const { return accepts_.load(); }
  std::string body() const { return "hello from " + std::to_string(port_); }
  void onAccept(std::function<void(int fd)> f) {
    std::lock_guard lock(mu_);
    onAccept_ = std::move(f);
  }

 private:
  void run() {
    while (!stop_) {
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) {
        if (stop_) return;
        continue;
      }
      accepts_++;
      std::function<void(int)> hook;
      {
        std::lock_guard lock(mu_);
        hook = onAccept_;
      }
      if (hook) hook(c);
      std::string head;
      char buf[1024];
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
      while (head.find("\r\n\r\n") == std::string::npos &&
             std::chrono::steady_clock::now() < deadline) {
        pollfd p{c, POLLIN, 0};
        if (::poll(&p, 1, 100) != 1) continue;
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        head.append(buf, static_cast<size_t>(n));
      }
      std::string b = body() + "\n";
      std::string resp = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                         std::to_string(b.size()) + "\r\nConnection: close\r\n\r\n" + b;
      ::send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
      ::shutdown(c, SHUT_WR);
      ::close(c);
    }
  }

  int fd_;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepts_{0};
  std::mutex mu_;
  std::function<void(int)> onAccept_;
  std::thread thread_;
};

// Answers every datagram with "echo:<payload> from PORT".
class UdpEchoServer {
 public:
  explicit UdpEchoServer(const char* host = "127.0.0.1") : fd_(listenSocket(SOCK_DGRAM, host)) {
    port_ = socketEndpoint(fd_, false).port;
    thread_ = std::thread([this] { run(); });
  }
  ~UdpEchoServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  uint16_t port() const { return port_; }
  // Every datagram received so far.
  std::vector<std::string> payloads() const {
    std::lock_guard lock(mu_);
    return payloads_;
  }

 private:
  void run() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) != 1) continue;
      char buf[512];
      sockaddr_storage from{};
      socklen_t fl = sizeof from;
      ssize_t n = ::recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &fl);
      if (n < 0) continue;
      {
        std::lock_guard lock(mu_);
        payloads_.emplace_back(buf, static_cast<size_t>(n));
      }
      std::string reply = "echo:" + std::string(buf, static_cast<size_t>(n)) + " from " +
                          std::to_string(port_);
      ::sendto(fd_, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from), fl);
    }
  }
  int fd_;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;  // guards payloads_
  std::vector<std::string> payloads_;
  std::thread thread_;
};

// Accepts and closes every connection at once, counting them (the "blocked" listener of the
// S13.7 attacks, and a fast permitted one).
class AcceptCounter {
 public:
  explicit AcceptCounter(const char* host = "127.0.0.1") : fd_(listenSocket(SOCK_STREAM, host)) {
    port_ = socketEndpoint(fd_, false).port;
    thread_ = std::thread([this] {
      while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 50) != 1) continue;
        int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        accepts_++;
        ::close(c);
      }
    });
  }
  ~AcceptCounter() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  uint16_t port() const { return port_; }
  int accepts() const { return accepts_.load(); }

 private:
  int fd_;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepts_{0};
  std::thread thread_;
};

// An AF_UNIX stream server that writes "unix-hello" to each client.
class UnixServer {
 public:
  explicit UnixServer(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    std::snprintf(un.sun_path, sizeof un.sun_path, "%s", path.c_str());
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&un), sizeof un) != 0) {
      throw std::runtime_error("bind unix " + path);
    }
    ::chmod(path.c_str(), 0777);
    ::listen(fd_, 16);
    thread_ = std::thread([this] {
      while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 50) != 1) continue;
        int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        ::send(c, "unix-hello", 10, MSG_NOSIGNAL);
        ::close(c);
      }
    });
  }
  ~UnixServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
    ::unlink(path_.c_str());
  }

 private:
  std::string path_;
  int fd_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Spawns argv with stdout/stderr to files and an optional extra fd 3; returns the pid.
inline pid_t spawnProcess(const std::vector<std::string>& argvIn, int outFd, int errFd,
                          int fd3 = -1) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, outFd, 1);
  posix_spawn_file_actions_adddup2(&fa, errFd, 2);
  if (fd3 >= 0) posix_spawn_file_actions_adddup2(&fa, fd3, 3);
  std::vector<std::string> copy = argvIn;
  std::vector<char*> argv;
  for (auto& s : copy) argv.push_back(s.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw std::runtime_error("posix_spawn " + argvIn[0] + ": " + std::strerror(rc));
  return pid;
}

inline int waitExit(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// True when the process is gone or a zombie.
inline bool processGone(pid_t pid) {
  std::string stat = readFile("/proc/" + std::to_string(pid) + "/stat");
  if (stat.empty()) return true;
  auto close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'Z';
}

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

}  // namespace openwfp::realtest
