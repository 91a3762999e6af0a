// tests/linux/real_client.cpp - a small socket client the real-process tests run under the
// supervisor, for the cases curl/python/wget do not cover precisely.
//
//   real_client tcp HOST PORT          blocking connect, HTTP/1.0 GET, response to stdout
//   real_client tcp-nb HOST PORT       non-blocking connect, poll, SO_ERROR, then as tcp
//   real_client tcp-len HOST PORT LEN  blocking connect passing LEN as the address length
//   real_client udp HOST PORT          connected UDP: send "ping", print the reply
//   real_client bind-tcp HOST PORT     bind a TCP socket, print the bound address
//   real_client unix PATH [LEN]        AF_UNIX connect (LEN: address length), print what is read
//   real_client threads HOST SLOWPORT FASTPORT
//                                      two threads connect at once; prints which finished first
//   real_client tfo HOST PORT          TCP Fast Open: sendto(MSG_FASTOPEN) instead of connect
//   real_client tfo-msg HOST PORT LEN  TCP Fast Open by sendmsg(MSG_FASTOPEN), msg_namelen LEN
//                                      (the kernel takes at most sizeof(sockaddr_storage) of it)
//   real_client cookie-tcp HOST PORT   prints the new socket's "cookie=N", waits for a line on
//                                      stdin, then connects as tcp
//   real_client iouring                io_uring_setup: prints "io_uring errno=N" (0: it worked)
//   real_client takeover [noptrace]    pidfd_getfd, ptrace, process_vm_readv/writev on the parent
//                                      (the supervisor): prints each call's errno
//   real_client signals                signals the supervisor (the parent of the tree's root, the
//                                      parent) every way it can; prints each call's errno
//   real_client tcp-sndtimeo HOST PORT MS
//                                      blocking connect with SO_SNDTIMEO MS: prints its errno and
//                                      how long it took, then (after 1.5 s) whether it is connected
//   real_client delay MS MODE ARGS...  prints "started", sleeps MS, then runs MODE
//   real_client lengths HOST PORT LEN...
//                                      a blocking connect per LEN passing it as the address
//                                      length: prints "len=N errno=E" (0: connected)
//   real_client flip HOST PORT BHOST BPORT MS
//                                      for MS ms: connects to HOST:PORT while a second thread
//                                      rewrites the sockaddr to BHOST:BPORT and back; prints
//                                      "tries=N connected=C blocked=B"
//   real_client swap unix|null HOST PORT MS
//                                      for MS ms: connects fd F to HOST:PORT while a second
//                                      thread dup2()s an AF_UNIX socket (or /dev/null) and a new
//                                      TCP socket onto F; prints "tries=N connected=C"
//   real_client udp-send sendto|sendmsg|sendmmsg HOST PORT [COUNT]
//                                      an unconnected UDP socket sends COUNT (1) datagrams
//                                      "dgram-I" (sendmmsg: all in one call); prints the result
//                                      ("sent=N" / "msg_len=L" per message, or "error ..."),
//                                      then "reply=..." for the first echo (1 s at most)
//   real_client semantics HOST PORT CLOSEDPORT
//                                      connect semantics kept by performed calls, one line each
// HOST containing ':' uses an AF_INET6 socket. Errors: "error STEP errno=N" and exit 3.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <linux/io_uring.h>
#include <dirent.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

[[noreturn]] void fail(const char* step, int err) {
  std::printf("error %s errno=%d\n", step, err);
  std::fflush(stdout);
  std::exit(3);
}

socklen_t makeAddr(const char* host, int port, sockaddr_storage& ss) {
  std::memset(&ss, 0, sizeof ss);
  if (std::strchr(host, ':') != nullptr) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1) fail("address", EINVAL);
    return sizeof(sockaddr_in6);
  }
  auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
  s4->sin_family = AF_INET;
  s4->sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host, &s4->sin_addr) != 1) fail("address", EINVAL);
  return sizeof(sockaddr_in);
}

std::string endpointText(const sockaddr_storage& ss) {
  char text[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET6) {
    const auto* s6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &s6->sin6_addr, text, sizeof text);
    return "[" + std::string(text) + "]:" + std::to_string(ntohs(s6->sin6_port));
  }
  const auto* s4 = reinterpret_cast<const sockaddr_in*>(&ss);
  inet_ntop(AF_INET, &s4->sin_addr, text, sizeof text);
  return std::string(text) + ":" + std::to_string(ntohs(s4->sin_port));
}

void exchange(int fd) {
  const char req[] = "GET / HTTP/1.0\r\n\r\n";
  if (::send(fd, req, sizeof req - 1, MSG_NOSIGNAL) < 0) fail("send", errno);
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0) fail("recv", errno);
    if (n == 0) break;
    std::fwrite(buf, 1, static_cast<size_t>(n), stdout);
  }
}

void printPeer(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    std::printf("peer=%s\n", endpointText(ss).c_str());
  }
}

// Everything the peer sends until it closes, to stdout.
void copyToStdoutUntilEof(int fd) {
  char buf[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0) fail("recv", errno);
    if (n == 0) break;
    std::fwrite(buf, 1, static_cast<size_t>(n), stdout);
  }
}

void printReply(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 1000) != 1) {
    std::printf("reply=none\n");
    return;
  }
  char buf[512];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  std::printf("reply=%.*s\n", static_cast<int>(n > 0 ? n : 0), buf);
}

int udpSend(const std::string& how, const char* host, int port, int count) {
  sockaddr_storage ss;
  socklen_t len = makeAddr(host, port, ss);
  int fd = ::socket(ss.ss_family, SOCK_DGRAM, 0);
  if (fd < 0) fail("socket", errno);
  std::vector<std::string> text;
  for (int i = 0; i < count; ++i) text.push_back("dgram-" + std::to_string(i));
  if (how == "sendmmsg") {
    std::vector<iovec> iov(count);
    std::vector<mmsghdr> msgs(count);
    for (int i = 0; i < count; ++i) {
      iov[i] = {text[i].data(), text[i].size()};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_name = &ss;
      msgs[i].msg_hdr.msg_namelen = len;
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int n = ::sendmmsg(fd, msgs.data(), static_cast<unsigned>(count), 0);
    if (n < 0) fail("sendmmsg", errno);
    std::printf("sent=%d\n", n);
    for (int i = 0; i < n; ++i) std::printf("msg_len=%u\n", msgs[i].msg_len);
  } else {
    for (int i = 0; i < count; ++i) {
      ssize_t n;
      if (how == "sendto") {
        n = ::sendto(fd, text[i].data(), text[i].size(), 0, reinterpret_cast<sockaddr*>(&ss), len);
      } else {
        iovec iov{text[i].data(), text[i].size()};
        msghdr m{};
        m.msg_name = &ss;
        m.msg_namelen = len;
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        n = ::sendmsg(fd, &m, 0);
      }
      if (n < 0) fail(how.c_str(), errno);
      std::printf("sent=%zd\n", n);
    }
  }
  printReply(fd);
  return 0;
}

bool expired(std::chrono::steady_clock::time_point deadline) {
  return std::chrono::steady_clock::now() >= deadline;
}

int flip(const char* host, int port, const char* bhost, int bport, int ms) {
  sockaddr_storage good, bad;
  socklen_t len = makeAddr(host, port, good);
  makeAddr(bhost, bport, bad);
  // The sockaddr the connects pass: rewritten byte-wise by the other thread all along.
  static sockaddr_storage shared;
  std::memcpy(&shared, &good, sizeof shared);
  std::atomic<bool> stop{false};
  std::thread flipper([&] {
    auto* dst = reinterpret_cast<volatile unsigned char*>(&shared);
    while (!stop.load(std::memory_order_relaxed)) {
      for (const sockaddr_storage* src : {&bad, &good}) {
        const auto* b = reinterpret_cast<const unsigned char*>(src);
        for (socklen_t i = 0; i < len; ++i) dst[i] = b[i];
      }
    }
  });
  int tries = 0, connected = 0, blocked = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (!expired(deadline)) {
    int fd = ::socket(good.ss_family, SOCK_STREAM, 0);
    if (fd < 0) fail("socket", errno);
    ++tries;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&shared), len) == 0) {
      ++connected;
    } else if (errno == ECONNREFUSED) {
      ++blocked;
    }
    ::close(fd);
  }
  stop = true;
  flipper.join();
  std::printf("tries=%d connected=%d blocked=%d\n", tries, connected, blocked);
  return 0;
}

int swapFd(const std::string& kind, const char* host, int port, int ms) {
  sockaddr_storage ss;
  socklen_t len = makeAddr(host, port, ss);
  int other = kind == "unix" ? ::socket(AF_UNIX, SOCK_STREAM, 0) : ::open("/dev/null", O_RDWR);
  if (other < 0) fail("other", errno);
  const int target = ::dup(other);
  std::atomic<bool> stop{false};
  std::thread swapper([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      int t = ::socket(ss.ss_family, SOCK_STREAM, 0);
      if (t < 0) continue;
      ::dup2(t, target);
      ::close(t);
      ::dup2(other, target);
    }
  });
  int tries = 0, connected = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (!expired(deadline)) {
    ++tries;
    if (::connect(target, reinterpret_cast<sockaddr*>(&ss), len) == 0) ++connected;
  }
  stop = true;
  swapper.join();
  std::printf("tries=%d connected=%d\n", tries, connected);
  return 0;
}

int semantics(const char* host, int port, int closedPort) {
  sockaddr_storage ss, closed;
  socklen_t len = makeAddr(host, port, ss);
  makeAddr(host, closedPort, closed);
  int fd = ::socket(ss.ss_family, SOCK_STREAM, 0);
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
  std::printf("blocking=%d\n", rc == 0 ? 0 : errno);
  rc = ::connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
  std::printf("second=%d\n", rc == 0 ? 0 : errno);  // EISCONN
  ::close(fd);
  fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
  rc = ::connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
  std::printf("nonblocking=%d\n", rc == 0 ? 0 : errno);
  pollfd p{fd, POLLOUT, 0};
  int soError = -1;
  socklen_t sl = sizeof soError;
  if (::poll(&p, 1, 5000) == 1) ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &sl);
  std::printf("nonblocking_so_error=%d\n", soError);
  ::close(fd);
  fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
  rc = ::connect(fd, reinterpret_cast<sockaddr*>(&closed), len);
  std::printf("refused=%d\n", rc == 0 ? 0 : errno);
  p = {fd, POLLOUT, 0};
  soError = -1;
  if (::poll(&p, 1, 5000) == 1) ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &sl);
  std::printf("refused_so_error=%d\n", soError);
  ::close(fd);
  fd = ::socket(ss.ss_family, SOCK_STREAM, 0);
  rc = ::connect(fd, reinterpret_cast<sockaddr*>(&closed), len);
  std::printf("refused_blocking=%d\n", rc == 0 ? 0 : errno);
  ::close(fd);
  // bind to port 0, then getsockname: an ephemeral port of the asked address.
  fd = ::socket(ss.ss_family, SOCK_STREAM, 0);
  sockaddr_storage any = ss;
  reinterpret_cast<sockaddr_in*>(&any)->sin_port = 0;  // sin_port and sin6_port share the offset
  rc = ::bind(fd, reinterpret_cast<sockaddr*>(&any), len);
  sockaddr_storage got{};
  socklen_t gl = sizeof got;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&got), &gl);
  std::printf("bind0=%d port_nonzero=%d\n", rc == 0 ? 0 : errno,
              ntohs(reinterpret_cast<sockaddr_in*>(&got)->sin_port) != 0 ? 1 : 0);
  rc = ::bind(fd, reinterpret_cast<sockaddr*>(&any), len);
  std::printf("bind_again=%d\n", rc == 0 ? 0 : errno);  // EINVAL: already bound
  ::close(fd);
  // UDP: connect, then AF_UNSPEC disconnects (getpeername: ENOTCONN).
  fd = ::socket(ss.ss_family, SOCK_DGRAM, 0);
  rc = ::connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
  sockaddr unspec{};
  unspec.sa_family = AF_UNSPEC;
  int rc2 = ::connect(fd, &unspec, sizeof unspec);
  gl = sizeof got;
  int peer = ::getpeername(fd, reinterpret_cast<sockaddr*>(&got), &gl) == 0 ? 0 : errno;
  std::printf("udp_connect=%d unspec=%d peer_after=%d\n", rc == 0 ? 0 : errno, rc2 == 0 ? 0 : errno, peer);
  ::close(fd);
  // An AF_UNIX address on a TCP socket: the kernel's answer.
  fd = ::socket(ss.ss_family, SOCK_STREAM, 0);
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  rc = ::connect(fd, reinterpret_cast<sockaddr*>(&un), sizeof un);
  std::printf("unix_on_tcp=%d\n", rc == 0 ? 0 : errno);
  ::close(fd);
  // An IP address on an AF_UNIX socket and on /dev/null.
  fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  rc = ::connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
  std::printf("ip_on_unix=%d\n", rc == 0 ? 0 : errno);
  ::close(fd);
  fd = ::open("/dev/null", O_RDWR);
  rc = ::connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
  std::printf("ip_on_file=%d\n", rc == 0 ? 0 : errno);
  ::close(fd);
  // An unreadable address: the kernel checks the fd first (EBADF), then copies the address
  // (EFAULT), then asks whether the file is a socket.
  auto* unreadable = reinterpret_cast<sockaddr*>(static_cast<uintptr_t>(8));
  rc = ::connect(fd, unreadable, len);  // fd is closed now
  std::printf("bad_fd_bad_addr=%d\n", rc == 0 ? 0 : errno);
  rc = ::bind(fd, unreadable, len);
  std::printf("bind_bad_fd_bad_addr=%d\n", rc == 0 ? 0 : errno);
  fd = ::socket(ss.ss_family, SOCK_STREAM, 0);
  rc = ::connect(fd, unreadable, len);
  std::printf("bad_addr=%d\n", rc == 0 ? 0 : errno);
  rc = ::bind(fd, unreadable, len);
  std::printf("bind_bad_addr=%d\n", rc == 0 ? 0 : errno);
  ::close(fd);
  fd = ::open("/dev/null", O_RDWR);
  rc = ::connect(fd, unreadable, len);
  std::printf("file_bad_addr=%d\n", rc == 0 ? 0 : errno);
  rc = ::bind(fd, unreadable, len);
  std::printf("bind_file_bad_addr=%d\n", rc == 0 ? 0 : errno);
  ::close(fd);
  return 0;
}

int tcpConnect(const char* host, int port, int lenOverride = 0) {
  sockaddr_storage ss;
  socklen_t len = makeAddr(host, port, ss);
  if (lenOverride > 0) len = static_cast<socklen_t>(lenOverride);
  int fd = ::socket(ss.ss_family, SOCK_STREAM, 0);
  if (fd < 0) fail("socket", errno);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) fail("connect", errno);
  return fd;
}

pid_t parentOf(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  FILE* f = std::fopen(path, "r");
  if (f == nullptr) return -1;
  char buf[1024] = {};
  size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  const char* close = std::strrchr(buf, ')');
  char state = 0;
  int ppid = -1;
  if (close == nullptr || std::sscanf(close + 1, " %c %d", &state, &ppid) != 2) return -1;
  return ppid;
}

char stateOf(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  FILE* f = std::fopen(path, "r");
  if (f == nullptr) return '?';
  char buf[1024] = {};
  size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  const char* close = std::strrchr(buf, ')');
  return close != nullptr && close[1] == ' ' ? close[2] : '?';
}

int err(long rc) { return rc == 0 ? 0 : errno; }

// Every way to stop or signal the supervisor from inside the tree.
int signalsMode() {
  const pid_t holder = ::getppid();
  const pid_t sup = parentOf(holder);
  const pid_t group = ::getpgid(sup);
  // If a group stop got through, everybody in the group (this process too) stops: a helper in a
  // group of its own continues them after a while, so the test ends and sees it.
  pid_t rescuer = ::fork();
  if (rescuer == 0) {
    ::setpgid(0, 0);
    ::usleep(1500 * 1000);
    ::kill(-group, SIGCONT);
    ::_exit(0);
  }
  siginfo_t info{};
  info.si_code = SI_QUEUE;
  info.si_pid = ::getpid();
  info.si_uid = ::getuid();
  std::string tid;  // a thread of the supervisor other than its main one
  char taskDir[64];
  std::snprintf(taskDir, sizeof taskDir, "/proc/%d/task", static_cast<int>(sup));
  if (DIR* d = ::opendir(taskDir)) {
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] != '.' && std::atoi(e->d_name) != sup) tid = e->d_name;
    }
    ::closedir(d);
  }
  char procDir[64];
  std::snprintf(procDir, sizeof procDir, "/proc/%d", static_cast<int>(sup));
  int dirFd = ::open(procDir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  std::printf("kill=%d holder=%d tgkill=%d sigqueue=%d tgsigqueue=%d pidfd_open=%d "
              "pidfd_send_proc=%d tkill=%d tkill_thread=%d group=%d own_group=%d\n",
              err(::kill(sup, SIGSTOP)), err(::kill(holder, SIGKILL)),
              err(::syscall(SYS_tgkill, sup, sup, SIGSTOP)),
              err(::syscall(SYS_rt_sigqueueinfo, sup, SIGSTOP, &info)),
              err(::syscall(SYS_rt_tgsigqueueinfo, sup, sup, SIGSTOP, &info)),
              err(::syscall(SYS_pidfd_open, sup, 0) >= 0 ? 0 : -1),
              err(::syscall(SYS_pidfd_send_signal, dirFd, SIGSTOP, nullptr, 0)),
              err(::syscall(SYS_tkill, sup, SIGSTOP)),
              tid.empty() ? -1 : err(::syscall(SYS_tkill, std::atoi(tid.c_str()), SIGSTOP)),
              err(::kill(-group, SIGSTOP)),
              ::getpgrp() == group ? err(::kill(0, SIGSTOP)) : -1);
  // What stays allowed: signalling a process of the tree (a child), by pid and by pidfd.
  pid_t child = ::fork();
  if (child == 0) {
    ::pause();
    ::_exit(0);
  }
  long childFd = ::syscall(SYS_pidfd_open, child, 0);
  std::printf("child_pidfd_send=%d child_kill=%d tkill_self=%d\n",
              err(::syscall(SYS_pidfd_send_signal, childFd, SIGCONT, nullptr, 0)),
              err(::kill(child, SIGTERM)), err(::syscall(SYS_tkill, ::gettid(), 0)));
  ::waitpid(child, nullptr, 0);
  ::usleep(100 * 1000);
  std::printf("supervisor_state=%c\n", stateOf(sup));
  ::kill(rescuer, SIGKILL);
  ::waitpid(rescuer, nullptr, 0);
  return 0;
}

int sendTimeoutMode(const char* host, int port, int ms) {
  sockaddr_storage ss;
  socklen_t len = makeAddr(host, port, ss);
  int fd = ::socket(ss.ss_family, SOCK_STREAM, 0);
  if (fd < 0) fail("socket", errno);
  timeval tv{ms / 1000, (ms % 1000) * 1000};
  if (::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0) fail("setsockopt", errno);
  auto t0 = std::chrono::steady_clock::now();
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
  int e = rc == 0 ? 0 : errno;
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  std::printf("connect errno=%d ms=%lld\n", e, static_cast<long long>(took.count()));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // past the late verdict
  sockaddr_storage peer{};
  socklen_t pl = sizeof peer;
  std::printf("connected=%d\n", ::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &pl) == 0 ? 1 : 0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  if (argc == 2 && std::string(argv[1]) == "iouring") {
    io_uring_params params{};
    long fd = ::syscall(SYS_io_uring_setup, 4, &params);
    std::printf("io_uring errno=%d\n", fd >= 0 ? 0 : errno);
    return 0;
  }
  if ((argc == 2 || argc == 3) && std::string(argv[1]) == "takeover") {
    // What a supervised process would use to take over its supervisor (the parent): its fds,
    // tracing it, its memory. Prints each call's errno (0: it worked). "takeover noptrace"
    // skips the ptrace probe (ptrace=-1): for a test whose supervisor a root child could trace.
    const pid_t parent = ::getppid();
    long pidfd = ::syscall(SYS_pidfd_open, parent, 0);
    long got = pidfd >= 0 ? ::syscall(SYS_pidfd_getfd, pidfd, 0, 0) : -1;
    const int getfdErr = got >= 0 ? 0 : errno;
    int ptraceErr = -1;
    if (argc == 2) {  // PTRACE_SEIZE: does not stop the parent, and ends when this process exits
      long traced = ::syscall(SYS_ptrace, PTRACE_SEIZE, parent, nullptr, nullptr);
      ptraceErr = traced == 0 ? 0 : errno;
    }
    char mine[8] = {}, theirs[8] = {};
    iovec local{mine, sizeof mine}, remote{theirs, sizeof theirs};
    long readN = ::syscall(SYS_process_vm_readv, parent, &local, 1, &remote, 1, 0);
    const int readErr = readN >= 0 ? 0 : errno;
    long writeN = ::syscall(SYS_process_vm_writev, parent, &local, 1, &remote, 1, 0);
    const int writeErr = writeN >= 0 ? 0 : errno;
    std::printf("pidfd_open errno=%d pidfd_getfd errno=%d ptrace errno=%d process_vm_readv errno=%d "
                "process_vm_writev errno=%d\n",
                pidfd >= 0 ? 0 : errno, getfdErr, ptraceErr, readErr, writeErr);
    return 0;
  }
  if (argc == 2 && std::string(argv[1]) == "signals") return signalsMode();
  if (argc == 5 && std::string(argv[1]) == "tcp-sndtimeo") {
    return sendTimeoutMode(argv[2], std::atoi(argv[3]), std::atoi(argv[4]));
  }
  if (argc < 3) {
    std::fprintf(stderr, "usage: see real_client.cpp\n");
    return 2;
  }
  std::string mode = argv[1];
  if (mode == "delay" && argc > 3) {
    std::printf("started\n");
    std::this_thread::sleep_for(std::chrono::milliseconds(std::atoi(argv[2])));
    argv += 2;
    argc -= 2;
    mode = argv[1];
  }
  if (mode == "lengths" && argc > 4) {
    for (int i = 4; i < argc; ++i) {
      sockaddr_storage ss[2];  // readable well past any length asked
      std::memset(ss, 0, sizeof ss);
      makeAddr(argv[2], std::atoi(argv[3]), ss[0]);
      int fd = ::socket(ss[0].ss_family, SOCK_STREAM, 0);
      if (fd < 0) fail("socket", errno);
      int rc = ::connect(fd, reinterpret_cast<sockaddr*>(ss), static_cast<socklen_t>(std::atoi(argv[i])));
      std::printf("len=%s errno=%d\n", argv[i], rc == 0 ? 0 : errno);
      ::close(fd);
    }
    return 0;
  }
  if (mode == "flip" && argc == 7) {
    return flip(argv[2], std::atoi(argv[3]), argv[4], std::atoi(argv[5]), std::atoi(argv[6]));
  }
  if (mode == "swap" && argc == 6) return swapFd(argv[2], argv[3], std::atoi(argv[4]), std::atoi(argv[5]));
  if (mode == "udp-send" && argc >= 5) {
    return udpSend(argv[2], argv[3], std::atoi(argv[4]), argc > 5 ? std::atoi(argv[5]) : 1);
  }
  if (mode == "semantics" && argc == 5) return semantics(argv[2], std::atoi(argv[3]), std::atoi(argv[4]));
  if (mode == "tcp" || mode == "tcp-len") {
    int fd = tcpConnect(argv[2], std::atoi(argv[3]), mode == "tcp-len" ? std::atoi(argv[4]) : 0);
    printPeer(fd);
    exchange(fd);
    return 0;
  }
  if (mode == "tfo-msg") {
    unsigned char name[512] = {};  // readable well past any clamped length
    sockaddr_storage ss;
    socklen_t len = makeAddr(argv[2], std::atoi(argv[3]), ss);
    std::memcpy(name, &ss, len);
    int fd = ::socket(ss.ss_family, SOCK_STREAM, 0);
    if (fd < 0) fail("socket", errno);
    char req[] = "GET / HTTP/1.0\r\n\r\n";
    iovec iov{req, sizeof req - 1};
    msghdr msg{};
    msg.msg_name = name;
    msg.msg_namelen = static_cast<socklen_t>(std::strtoul(argv[4], nullptr, 0));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (::sendmsg(fd, &msg, MSG_FASTOPEN | MSG_NOSIGNAL) < 0) fail("sendmsg", errno);
    printPeer(fd);
    copyToStdoutUntilEof(fd);
    return 0;
  }
  if (mode == "tfo") {
    sockaddr_storage ss;
    socklen_t len = makeAddr(argv[2], std::atoi(argv[3]), ss);
    int fd = ::socket(ss.ss_family, SOCK_STREAM, 0);
    if (fd < 0) fail("socket", errno);
    const char req[] = "GET / HTTP/1.0\r\n\r\n";
    if (::sendto(fd, req, sizeof req - 1, MSG_FASTOPEN | MSG_NOSIGNAL,
                 reinterpret_cast<sockaddr*>(&ss), len) < 0) {
      fail("sendto", errno);
    }
    printPeer(fd);
    copyToStdoutUntilEof(fd);
    return 0;
  }
  if (mode == "cookie-tcp") {
    sockaddr_storage ss;
    socklen_t len = makeAddr(argv[2], std::atoi(argv[3]), ss);
    int fd = ::socket(ss.ss_family, SOCK_STREAM, 0);
    if (fd < 0) fail("socket", errno);
    uint64_t cookie = 0;
    socklen_t cl = sizeof cookie;
    ::getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &cl);
    std::printf("cookie=%llu\n", static_cast<unsigned long long>(cookie));
    char line[16];
    if (::read(0, line, sizeof line) <= 0) fail("stdin", EIO);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) fail("connect", errno);
    exchange(fd);
    return 0;
  }
  if (mode == "tcp-nb") {
    sockaddr_storage ss;
    socklen_t len = makeAddr(argv[2], std::atoi(argv[3]), ss);
    int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) fail("socket", errno);
    int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
    if (rc != 0 && errno != EINPROGRESS) fail("connect", errno);
    std::printf("connect=%s\n", rc == 0 ? "0" : "EINPROGRESS");
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, 5000) != 1) fail("poll", ETIMEDOUT);
    int soError = 0;
    socklen_t sl = sizeof soError;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &sl);
    std::printf("so_error=%d\n", soError);
    if (soError != 0) return 4;
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    printPeer(fd);
    exchange(fd);
    return 0;
  }
  if (mode == "udp") {
    sockaddr_storage ss;
    socklen_t len = makeAddr(argv[2], std::atoi(argv[3]), ss);
    int fd = ::socket(ss.ss_family, SOCK_DGRAM, 0);
    if (fd < 0) fail("socket", errno);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) fail("connect", errno);
    printPeer(fd);
    if (::send(fd, "ping", 4, 0) != 4) fail("send", errno);
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) != 1) fail("poll", ETIMEDOUT);
    char buf[512];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0) fail("recv", errno);
    std::printf("reply=%.*s\n", static_cast<int>(n), buf);
    return 0;
  }
  if (mode == "bind-tcp") {
    sockaddr_storage ss;
    socklen_t len = makeAddr(argv[2], std::atoi(argv[3]), ss);
    int fd = ::socket(ss.ss_family, SOCK_STREAM, 0);
    if (fd < 0) fail("socket", errno);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) fail("bind", errno);
    sockaddr_storage got{};
    socklen_t gl = sizeof got;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&got), &gl);
    std::printf("bound=%s\n", endpointText(got).c_str());
    return 0;
  }
  if (mode == "unix") {
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    std::snprintf(un.sun_path, sizeof un.sun_path, "%s", argv[2]);
    socklen_t len = argc > 3 ? static_cast<socklen_t>(std::atoi(argv[3])) : sizeof un;
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) fail("socket", errno);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&un), len) != 0) fail("connect", errno);
    char buf[256];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) fail("read", errno);
    std::printf("unix=%.*s\n", static_cast<int>(n), buf);
    return 0;
  }
  if (mode == "threads") {
    std::mutex mu;
    auto worker = [&](int port, const char* name) {
      int fd = tcpConnect(argv[2], port);
      std::lock_guard lock(mu);
      std::printf("done %s\n", name);
      ::close(fd);
    };
    std::thread slow(worker, std::atoi(argv[3]), "slow");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::thread fast(worker, std::atoi(argv[4]), "fast");
    slow.join();
    fast.join();
    return 0;
  }
  std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
  return 2;
}
