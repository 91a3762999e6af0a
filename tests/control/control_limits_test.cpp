// S14.9: the control channel bounds every resource a client can make it hold. A ControlServer
// runs in the test process (or, where the process's own limits matter, in a re-executed child,
// support/test_child.h) and raw clients play the adversary: a flood of clients that send a
// maximum-size frame's header and nothing more (memory, read deadline), descriptors sent across
// the 1-byte chunks of a frame that never ends, a process out of descriptors (accept backoff),
// and more idle clients of one uid than its quota (with a client the host vouches for).
// Every wait is bounded and says what it waited for.
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "control/frame_io.h"
#include "openwfp/control.h"
#include "support/test_child.h"

namespace ctl = openwfp::control;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int32_t kStatusInvalidHandle = static_cast<int32_t>(0xC0000008);

int rawConnect(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Reads on fd give up after ms (readFrame then returns IoError with errno EAGAIN).
void setRecvTimeout(int fd, int ms) {
  timeval tv{ms / 1000, (ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

// A DeviceClose of a handle that does not exist: answered with STATUS_INVALID_HANDLE by any
// server, no driver needed. True when the answer came (within 5 s).
bool answered(int sock, uint64_t id = 7) {
  setRecvTimeout(sock, 5000);
  if (!ctl::writeFrame(sock, ctl::encode(id, ctl::DeviceCloseRequest{99}))) return false;
  ctl::ReceivedFrame reply;
  if (ctl::readFrame(sock, reply) != ctl::ReadStatus::Ok || reply.header.request != id) return false;
  auto* r = std::get_if<ctl::DeviceCloseReply>(&reply.message);
  return r != nullptr && r->status == kStatusInvalidHandle;
}

// True when the server closed the connection (EOF or reset) within ms; data is dropped.
bool waitClosed(int fd, int ms) {
  const auto end = Clock::now() + std::chrono::milliseconds(ms);
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(end - Clock::now()).count();
    pollfd p{fd, POLLIN, 0};
    const int n = poll(&p, 1, static_cast<int>(std::max<long long>(left, 0)));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    char buf[256];
    const ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (r == 0 || (r < 0 && (errno == ECONNRESET || errno == EPIPE))) return true;
    if (r < 0 && errno != EAGAIN && errno != EINTR) return false;
  }
}

bool waitFor(const std::function<bool()>& done, int ms) {
  const auto end = Clock::now() + std::chrono::milliseconds(ms);
  while (!done()) {
    if (Clock::now() >= end) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

long rssBytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  long size = 0, resident = 0;
  if (f != nullptr) {
    if (std::fscanf(f, "%ld %ld", &size, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * sysconf(_SC_PAGESIZE);
}

size_t openFdCount() {
  size_t n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
    closedir(d);
  }
  return n;
}

// The header of a frame of the largest size the format allows (a DeviceIoctl).
std::vector<uint8_t> maxFrameHeader() {
  std::vector<uint8_t> h(ctl::kHeaderSize, 0);
  const uint32_t size = static_cast<uint32_t>(ctl::kMaxFrame);
  for (int i = 0; i < 4; ++i) h[i] = static_cast<uint8_t>(size >> (8 * i));
  h[4] = ctl::kVersion;
  h[5] = static_cast<uint8_t>(ctl::MsgType::DeviceIoctl);
  h[8] = 1;
  return h;
}

// One byte with `count` copies of fd attached (SCM_RIGHTS). Returns what sendmsg returned.
ssize_t sendByteWithFds(int sock, uint8_t byte, int fd, size_t count) {
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = CMSG_SPACE(sizeof(int) * count);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * count);
  for (size_t i = 0; i < count; ++i) std::memcpy(CMSG_DATA(c) + i * sizeof(int), &fd, sizeof fd);
  return sendmsg(sock, &msg, MSG_NOSIGNAL);
}

// Reads one line (without its '\n') from a pipe within ms; false on EOF or timeout.
bool readLine(int fd, std::string& line, int ms) {
  line.clear();
  const auto end = Clock::now() + std::chrono::milliseconds(ms);
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(end - Clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    const int n = poll(&p, 1, static_cast<int>(left));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    char c;
    if (read(fd, &c, 1) != 1) return false;
    if (c == '\n') return true;
    line.push_back(c);
  }
}

void writeLine(int fd, const char* text) {
  [[maybe_unused]] ssize_t n = write(fd, text, std::strlen(text));
}

// ---- the children (support/test_child.h); each returns 0 when the clause held from its side

constexpr const char* kChildGroup = "control-limits";

bool dropToNobody() { return setgroups(0, nullptr) == 0 && setgid(65534) == 0 && setuid(65534) == 0; }

// On CPU time of a thread in ns, from its schedstat file (kept open: no descriptor is needed
// to read it again).
uint64_t cpuNs(int schedstatFd) {
  char buf[128] = {};
  if (pread(schedstatFd, buf, sizeof buf - 1, 0) <= 0) return 0;
  return std::strtoull(buf, nullptr, 10);
}

// Runs a server, then uses up every descriptor (RLIMIT_NOFILE lowered to 64 and filled), so the
// connection the parent makes cannot be accepted (EMFILE). Over 300 ms of that, its accept
// thread must not spin; once descriptors are free again, the queued connection is accepted.
// fds[0]: status pipe (writes its socket path, then a report), fds[1]: the parent's commands.
int childEmfileServer(const int* fds) {
  alarm(30);  // never outlives a broken parent
  const int status = fds[0], command = fds[1];
  ctl::ControlServer server;
  if (server.start()) return 10;
  int cpuFd = -1;  // the accept thread's schedstat
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d)) {
      char path[300];
      std::snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
      char name[32] = {};
      const int f = open(path, O_RDONLY | O_CLOEXEC);
      if (f < 0) continue;
      const ssize_t n = read(f, name, sizeof name - 1);
      close(f);
      if (n > 0 && std::strncmp(name, "openwfp-accept", 14) == 0) {
        std::snprintf(path, sizeof path, "/proc/self/task/%s/schedstat", e->d_name);
        cpuFd = open(path, O_RDONLY | O_CLOEXEC);
      }
    }
    closedir(d);
  }
  if (cpuFd < 0) return 11;
  // UBSan (asan preset) checks the dynamic type of the logger, its sinks and fmt's buffer at
  // each call, and the first time probes the memory with a pipe, which it cannot open once the
  // descriptors are used up: log a line like the server's now, so those checks are made.
  spdlog::warn("openwfp test child: using up its descriptors ({} of {}..{})", "limit", 0, 64);
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 12;
  rl.rlim_cur = 64;
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0) return 12;
  std::vector<int> fillers;
  fillers.reserve(64);
  for (;;) {
    const int fd = fcntl(cpuFd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) {
      if (errno == EMFILE) break;
      return 13;
    }
    fillers.push_back(fd);
  }
  writeLine(status, (server.path() + "\n").c_str());
  char b;
  if (read(command, &b, 1) != 1) return 14;  // the parent connected
  const uint64_t cpu0 = cpuNs(cpuFd);
  std::this_thread::sleep_for(300ms);
  const uint64_t cpu1 = cpuNs(cpuFd);
  const auto during = server.stats();
  for (int fd : fillers) close(fd);
  bool accepted = false;
  for (int i = 0; i < 500 && !accepted; ++i) {  // 5 s; the backoff is at most 1 s
    accepted = server.stats().clientsAccepted == 1;
    if (!accepted) std::this_thread::sleep_for(10ms);
  }
  char report[160];
  std::snprintf(report, sizeof report, "accept thread cpu %.1f ms in 300 ms; accepted during %llu, backoffs %llu\n",
                static_cast<double>(cpu1 - cpu0) / 1e6, static_cast<unsigned long long>(during.clientsAccepted),
                static_cast<unsigned long long>(during.acceptBackoffs));
  writeLine(status, report);
  if (read(command, &b, 1) < 0) return 15;  // EOF: the parent is done with its request
  if (during.clientsAccepted != 0) return 16;  // accept4 did not fail: the test proved nothing
  if (during.acceptBackoffs != 1) return 17;   // one episode
  if (cpu1 - cpu0 > 50'000'000) return 18;     // spinning
  if (!accepted) return 19;
  return 0;
}

// As nobody: connects OPENWFP_TEST_CLIENTS clients and holds them; once the parent says so
// (fds[1]), reports how many the server closed (fds[0]) and holds the rest until fds[1] ends.
int childIdleClients(const int* fds) {
  alarm(30);
  const int status = fds[0], command = fds[1];
  if (!dropToNobody()) return 20;
  const char* path = std::getenv(ctl::kSocketEnv);
  const char* count = std::getenv("OPENWFP_TEST_CLIENTS");
  if (path == nullptr || count == nullptr) return 21;
  std::vector<int> socks;
  for (int i = 0; i < std::atoi(count); ++i) {
    const int fd = rawConnect(path);
    if (fd < 0) return 22;
    socks.push_back(fd);
  }
  writeLine(status, "connected\n");
  char b;
  if (read(command, &b, 1) != 1) return 23;
  std::this_thread::sleep_for(200ms);  // a refused connection is closed right after its refusal is counted
  int closed = 0;
  for (int fd : socks) closed += waitClosed(fd, 0);
  writeLine(status, ("closed " + std::to_string(closed) + "\n").c_str());
  [[maybe_unused]] ssize_t n = read(command, &b, 1);
  return 0;
}

// As nobody, once fds[0] says go: one request. 0 answered, 1 refused (closed), 2x otherwise.
int childOneRequest(const int* fds) {
  alarm(30);
  if (!dropToNobody()) return 20;
  char b;
  if (read(fds[0], &b, 1) != 1) return 21;
  const char* path = std::getenv(ctl::kSocketEnv);
  const int sock = path != nullptr ? rawConnect(path) : -1;
  if (sock < 0) return 22;
  setRecvTimeout(sock, 5000);
  ctl::writeFrame(sock, ctl::encode(7, ctl::DeviceCloseRequest{99}));  // may fail: refused at once
  ctl::ReceivedFrame reply;
  const ctl::ReadStatus st = ctl::readFrame(sock, reply);
  if (st == ctl::ReadStatus::Ok) return std::holds_alternative<ctl::DeviceCloseReply>(reply.message) ? 0 : 23;
  if (st == ctl::ReadStatus::Eof || (st == ctl::ReadStatus::IoError && errno != EAGAIN)) return 1;
  return 24;
}

constexpr testchild::ChildEntry kChildren[] = {
    {"emfile-server", childEmfileServer},
    {"idle-clients", childIdleClients},
    {"one-request", childOneRequest},
};

const int kRunAsChild = testchild::runChildIfAsked(kChildGroup, kChildren);

pid_t spawnChild(const char* name, std::initializer_list<int> fds, const std::vector<std::string>& env = {}) {
  return testchild::spawnChild(kChildGroup, name, fds, env);
}
using testchild::waitChild;

// ---- the tests

TEST(ControlLimits, S14_9_SlowHeaderFloodHoldsLittleMemoryAndIsCutAtTheDeadline) {
  constexpr int kClients = 200;
  constexpr auto kDeadline = 2000ms;
  ctl::ControlServerOptions options;
  options.frameDeadline = kDeadline;
  ctl::ControlServer server(options);
  auto err = server.start();
  ASSERT_FALSE(err.has_value()) << *err;
  {  // one-time allocations (first client thread, logger) before the baseline
    const int warm = rawConnect(server.path());
    ASSERT_TRUE(answered(warm));
    close(warm);
  }
  ASSERT_TRUE(waitFor([&] { return server.stats().clientsNow == 0; }, 5000)) << "the warm-up client was not let go";
  const long rssBefore = rssBytes();

  const auto header = maxFrameHeader();
  std::vector<int> flood;
  const auto sentAt = Clock::now();
  for (int i = 0; i < kClients; ++i) {
    const int fd = rawConnect(server.path());
    ASSERT_GE(fd, 0) << "client " << i << ": " << std::strerror(errno);
    flood.push_back(fd);
    ASSERT_EQ(send(fd, header.data(), header.size(), MSG_NOSIGNAL), static_cast<ssize_t>(header.size()));
  }
  // Every header has been read by the server: nothing is left in the clients' send queues
  // (TIOCOUTQ, alias SIOCOUTQ).
  const bool allRead = waitFor(
      [&] {
        for (int fd : flood) {
          int queued = 0;
          if (ioctl(fd, TIOCOUTQ, &queued) != 0 || queued != 0) return false;
        }
        return true;
      },
      10000);
  ASSERT_TRUE(allRead) << "the server did not read the " << kClients << " headers within 10 s";
  ASSERT_EQ(server.stats().clientsNow, static_cast<unsigned>(kClients));
  const long growth = rssBytes() - rssBefore;
  std::printf("[ figures  ] RSS growth with %d max-size headers held: %.1f MiB\n", kClients, growth / 1048576.0);
  EXPECT_LT(growth, 32L << 20) << "the server allocates declared payload sizes before their bytes arrive";

  // Another client is answered during the flood.
  const int other = rawConnect(server.path());
  ASSERT_GE(other, 0);
  EXPECT_TRUE(answered(other)) << "a well-formed request during the flood";
  close(other);
  EXPECT_EQ(server.stats().slowFrames, 0u) << "the flood was already cut: the figures above are not its peak";

  // Cut at the deadline, not before.
  ASSERT_TRUE(waitClosed(flood[0], 10000)) << "the first slow client was not disconnected within 10 s";
  EXPECT_GE(Clock::now() - sentAt, kDeadline) << "disconnected before the deadline";
  ASSERT_TRUE(waitFor([&] { return server.stats().slowFrames == kClients; }, 10000))
      << "slow clients disconnected: " << server.stats().slowFrames << " of " << kClients;
  int closed = 0;
  for (int fd : flood) closed += waitClosed(fd, 1000);
  EXPECT_EQ(closed, kClients);
  EXPECT_EQ(server.stats().malformed, 0u);
  for (int fd : flood) close(fd);
  std::printf("[ figures  ] RSS growth after the flood was cut: %.1f MiB\n", (rssBytes() - rssBefore) / 1048576.0);
}

TEST(ControlLimits, S14_9_FrameDeadlineBoundsTheFrameNotTheIdleTimeBetweenFrames) {
  ctl::ControlServerOptions options;
  options.frameDeadline = 200ms;
  ctl::ControlServer server(options);
  auto err = server.start();
  ASSERT_FALSE(err.has_value()) << *err;
  // Idle between frames for twice the deadline: still served.
  const int idle = rawConnect(server.path());
  ASSERT_TRUE(answered(idle, 1));
  std::this_thread::sleep_for(400ms);
  EXPECT_TRUE(answered(idle, 2)) << "idle time between frames is not bounded";
  // Half a header, then nothing.
  const int half = rawConnect(server.path());
  const auto frame = ctl::encode(3, ctl::DeviceCloseRequest{99});
  const auto start = Clock::now();
  ASSERT_EQ(send(half, frame.data(), 8, MSG_NOSIGNAL), 8);
  ASSERT_TRUE(waitClosed(half, 5000)) << "half a header was held past the deadline (waited 5 s)";
  EXPECT_GE(Clock::now() - start, 200ms);
  // A frame that keeps trickling in (one byte every 50 ms) is cut too: the bound is on the frame.
  const int trickle = rawConnect(server.path());
  const auto open = ctl::encode(4, ctl::DeviceOpenRequest{std::string(200, 'x')});
  bool cut = false;
  for (size_t i = 0; i < 40 && !cut; ++i) {  // 2 s of a 224-byte frame
    if (send(trickle, &open[i], 1, MSG_NOSIGNAL) != 1) break;
    cut = waitClosed(trickle, 50);
  }
  EXPECT_TRUE(cut || waitClosed(trickle, 1000)) << "a trickling frame was not cut";
  EXPECT_TRUE(waitFor([&] { return server.stats().slowFrames == 2; }, 2000))
      << "slow frames counted: " << server.stats().slowFrames;
  EXPECT_TRUE(answered(idle, 3)) << "the idle client is still served";
  for (int fd : {idle, half, trickle}) close(fd);
}

// Replies the server's reader writes while the client's next request is already arriving are
// held back and written together once the reader would wait (server.cpp): a pipelining client
// (a proxy's hand-off offer, then its outcome) is woken once. A held reply waits at most for the
// request behind it, bounded by the frame deadline: it is written before the connection is cut.
TEST(ControlLimits, S14_9_ReplyHeldBehindAnArrivingRequestIsWrittenWithinTheFrameDeadline) {
  ctl::ControlServerOptions options;
  options.frameDeadline = 300ms;
  ctl::ControlServer server(options);
  auto err = server.start();
  ASSERT_FALSE(err.has_value()) << *err;
  const auto first = ctl::encode(11, ctl::DeviceCloseRequest{99});
  const auto second = ctl::encode(12, ctl::DeviceCloseRequest{98});
  std::vector<uint8_t> both(first);
  both.insert(both.end(), second.begin(), second.begin() + 10);  // the first request, and part of the next

  const int client = rawConnect(server.path());
  ASSERT_GE(client, 0);
  ASSERT_EQ(send(client, both.data(), both.size(), MSG_NOSIGNAL), static_cast<ssize_t>(both.size()));
  pollfd p{client, POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 100), 0) << "the first reply came while the next request was arriving";
  ASSERT_EQ(send(client, second.data() + 10, second.size() - 10, MSG_NOSIGNAL),
            static_cast<ssize_t>(second.size() - 10));
  setRecvTimeout(client, 5000);
  for (uint64_t id : {11u, 12u}) {
    ctl::ReceivedFrame reply;
    ASSERT_EQ(ctl::readFrame(client, reply), ctl::ReadStatus::Ok) << "no reply " << id << " within 5 s";
    EXPECT_EQ(reply.header.request, id) << "replies out of order";
    auto* r = std::get_if<ctl::DeviceCloseReply>(&reply.message);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->status, kStatusInvalidHandle);
  }
  EXPECT_TRUE(answered(client, 13)) << "a request alone is answered at once";

  // The request behind never completes: the held reply comes before the connection is cut.
  const int stalled = rawConnect(server.path());
  ASSERT_GE(stalled, 0);
  ASSERT_EQ(send(stalled, both.data(), both.size(), MSG_NOSIGNAL), static_cast<ssize_t>(both.size()));
  setRecvTimeout(stalled, 5000);
  const auto start = Clock::now();
  ctl::ReceivedFrame reply;
  ASSERT_EQ(ctl::readFrame(stalled, reply), ctl::ReadStatus::Ok) << "the held reply never came (5 s)";
  EXPECT_EQ(reply.header.request, 11u);
  EXPECT_LT(Clock::now() - start, 3s);
  EXPECT_TRUE(waitClosed(stalled, 5000)) << "the unfinished request was not cut at the deadline";
  for (int fd : {client, stalled}) close(fd);
}

TEST(ControlLimits, S14_9_DescriptorsAreCountedAcrossTheChunksOfAFrame) {
  ctl::ControlServerOptions options;
  options.frameDeadline = 0ms;  // only the descriptor count may end this connection
  ctl::ControlServer server(options);
  auto err = server.start();
  ASSERT_FALSE(err.has_value()) << *err;
  const int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(devnull, 0);
  const size_t baseline = openFdCount();
  const int raw = rawConnect(server.path());
  ASSERT_GE(raw, 0);
  // The first 12 bytes of a header, one byte per sendmsg, each with 4 descriptors: the frame
  // never completes, so only a count across its chunks can stop it.
  const auto frame = ctl::encode(1, ctl::DeviceCloseRequest{1});
  int sent = 0;
  for (int i = 0; i < 12; ++i) {
    if (sendByteWithFds(raw, frame[i], devnull, 4) != 1) break;  // EPIPE once the server closed
    ++sent;
  }
  ASSERT_GE(sent, 2) << "more than 4 descriptors must have been sent";
  EXPECT_TRUE(waitClosed(raw, 5000)) << "the connection was not closed within 5 s after " << sent * 4 << " descriptors";
  EXPECT_TRUE(waitFor([&] { return server.stats().tooManyFds == 1; }, 2000));
  EXPECT_EQ(server.stats().malformed, 1u) << "closed as malformed";
  // While the client still holds its end, the server holds nothing of it: the baseline and the
  // client's own socket.
  const bool back = waitFor([&] { return openFdCount() <= baseline + 1; }, 5000);
  std::printf("[ figures  ] open fds: baseline %zu (+1 the client's socket), after %d chunks of 4: %zu\n", baseline,
              sent, openFdCount());
  EXPECT_TRUE(back) << "the server still holds descriptors of the connection: " << openFdCount() << " open, baseline "
                    << baseline << " + 1";
  close(raw);
  EXPECT_TRUE(waitFor([&] { return openFdCount() <= baseline; }, 5000)) << openFdCount() << " open, baseline " << baseline;
  close(devnull);
}

TEST(ControlLimits, S14_9_AcceptBacksOffWhenOutOfDescriptors) {
  int status[2], command[2];
  ASSERT_EQ(pipe2(status, O_CLOEXEC), 0);
  ASSERT_EQ(pipe2(command, O_CLOEXEC), 0);
  const pid_t child = spawnChild("emfile-server", {status[1], command[0]});
  ASSERT_GT(child, 0);
  close(status[1]);
  close(command[0]);
  // The child's exit code, once the command pipe is closed (it exits by itself within 30 s).
  auto finish = [&] {
    if (command[1] >= 0) close(command[1]);
    command[1] = -1;
    const int rc = waitChild(child);
    close(status[0]);
    return rc;
  };
  std::string path;
  if (!readLine(status[0], path, 10000)) {
    FAIL() << "the child did not start its server and use up its descriptors within 10 s (exit " << finish() << ")";
  }
  const int raw = rawConnect(path);
  ASSERT_GE(raw, 0) << "a connection is queued even when the server cannot accept it";
  ASSERT_EQ(write(command[1], "g", 1), 1);
  std::string report;
  const bool reported = readLine(status[0], report, 10000);
  std::printf("[ figures  ] %s\n", report.c_str());
  EXPECT_TRUE(reported) << "no report from the child within 10 s";
  EXPECT_TRUE(answered(raw)) << "the queued client was not served once descriptors were free";
  close(raw);
  const int rc = finish();
  EXPECT_EQ(rc, 0) << "16: accept did not fail, 17: not one backoff episode, 18: the accept thread spun, "
                      "19: not accepted within 5 s of descriptors being free";
}

TEST(ControlLimits, S14_9_MaxClientsRefusesButAlwaysServeIsServed) {
  std::atomic<bool> vouch{false};
  ctl::ControlServerOptions options;
  options.maxClients = 2;
  options.alwaysServe = [&](pid_t pid) { return vouch.load() && pid == getpid(); };
  ctl::ControlServer server(options);
  auto err = server.start();
  ASSERT_FALSE(err.has_value()) << *err;
  const int a = rawConnect(server.path()), b = rawConnect(server.path());
  ASSERT_TRUE(answered(a));
  ASSERT_TRUE(answered(b));
  const int refused = rawConnect(server.path());
  EXPECT_TRUE(waitClosed(refused, 5000)) << "a third client over maxClients = 2";
  EXPECT_EQ(server.stats().clientsRefused, 1u);
  vouch = true;
  const int served = rawConnect(server.path());
  EXPECT_TRUE(answered(served)) << "a client alwaysServe vouches for is served over maxClients";
  EXPECT_EQ(server.stats().clientsServedOverLimit, 1u);
  EXPECT_EQ(server.stats().clientsNow, 3u);
  for (int fd : {a, b, refused, served}) close(fd);
}

TEST(ControlLimits, S14_9_PerUidQuotaRefusesIdleClientsButServesVouchedOnes) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root, to run clients as another uid (nobody)";
  constexpr unsigned kQuota = 4, kIdle = kQuota + 3;
  std::atomic<pid_t> vouched{-1};
  ctl::ControlServerOptions options;
  options.maxClientsPerUid = kQuota;
  options.alwaysServe = [&](pid_t pid) { return pid == vouched.load(); };
  ctl::ControlServer server(options);
  auto err = server.start();
  ASSERT_FALSE(err.has_value()) << *err;
  const std::string socketEnv = std::string(ctl::kSocketEnv) + "=" + server.path();

  // The engine's own uid (and root) has no quota.
  std::vector<int> own;
  for (unsigned i = 0; i < kQuota + 2; ++i) own.push_back(rawConnect(server.path()));
  for (int fd : own) EXPECT_TRUE(answered(fd)) << "a client of the engine's uid";
  for (int fd : own) close(fd);
  ASSERT_TRUE(waitFor([&] { return server.stats().clientsNow == 0; }, 5000));
  EXPECT_EQ(server.stats().clientsRefusedPerUid, 0u);

  // nobody: kIdle idle clients, of which kQuota are served.
  int status[2], command[2];
  ASSERT_EQ(pipe2(status, O_CLOEXEC), 0);
  ASSERT_EQ(pipe2(command, O_CLOEXEC), 0);
  const pid_t idle = spawnChild("idle-clients", {status[1], command[0]},
                                {socketEnv, "OPENWFP_TEST_CLIENTS=" + std::to_string(kIdle)});
  ASSERT_GT(idle, 0);
  close(status[1]);
  close(command[0]);
  auto finish = [&] {
    if (command[1] >= 0) close(command[1]);
    command[1] = -1;
    const int rc = waitChild(idle);
    close(status[0]);
    return rc;
  };
  std::string line;
  if (!readLine(status[0], line, 10000)) FAIL() << "the idle clients did not connect within 10 s (exit " << finish() << ")";
  const bool settled = waitFor(
      [&] {
        const auto s = server.stats();
        return s.clientsRefusedPerUid == kIdle - kQuota && s.clientsNow == kQuota;
      },
      5000);
  EXPECT_TRUE(settled) << "refused per uid: " << server.stats().clientsRefusedPerUid << ", served now "
                       << server.stats().clientsNow << " (want " << kIdle - kQuota << ", " << kQuota << ")";
  ASSERT_EQ(write(command[1], "g", 1), 1);
  EXPECT_TRUE(readLine(status[0], line, 10000)) << "no report from the idle clients";
  EXPECT_EQ(line, "closed " + std::to_string(kIdle - kQuota)) << "the idle clients over the quota are closed";

  // Another client of nobody: refused, unless the host vouches for it.
  auto oneRequest = [&](bool vouch) {
    int go[2];
    if (pipe2(go, O_CLOEXEC) != 0) return -1;
    const pid_t pid = spawnChild("one-request", {go[0]}, {socketEnv});
    close(go[0]);
    if (vouch) vouched = pid;
    [[maybe_unused]] ssize_t n = write(go[1], "g", 1);
    close(go[1]);
    return waitChild(pid);
  };
  EXPECT_EQ(oneRequest(false), 1) << "a client over its uid's quota is refused (0: served, 2x: failed)";
  EXPECT_EQ(oneRequest(true), 0) << "a client alwaysServe vouches for is served over its uid's quota";
  EXPECT_EQ(server.stats().clientsServedOverLimit, 1u);
  EXPECT_EQ(server.stats().clientsRefusedPerUid, kIdle - kQuota + 1);
  EXPECT_EQ(finish(), 0);
}

}  // namespace
