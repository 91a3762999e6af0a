#include "host/demo.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <regex>
#include <thread>

#include "host/timeline.h"
#include "openwfp/control.h"
#include "openwfp/host.h"
#include "openwfp/linux_backend.h"
#include "openwfp/openwfp.h"
#include "openwfp/trace.h"
#include "verifier/verifier.h"

namespace openwfp::host {

namespace {

constexpr const char* kUpstreamBody = "hello from the upstream server";

struct Event {
  int64_t ns;
  std::string who;
  std::string text;
};

class EventLog {
 public:
  void add(int64_t ns, std::string who, std::string text) {
    std::lock_guard lk(mu_);
    events_.push_back({ns, std::move(who), std::move(text)});
  }
  std::vector<Event> sorted() const {
    std::lock_guard lk(mu_);
    auto v = events_;
    std::stable_sort(v.begin(), v.end(), [](const Event& a, const Event& b) { return a.ns < b.ns; });
    return v;
  }
  std::vector<Event> all() const {
    std::lock_guard lk(mu_);
    return events_;
  }

 private:
  mutable std::mutex mu_;  // guards events_
  std::vector<Event> events_;
};

// DbgPrint goes to spdlog: during the demo, spdlog messages become "driver" events.
class CaptureSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit CaptureSink(EventLog& log) : log_(log) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    std::string text(msg.payload.data(), msg.payload.size());
    std::string who = "engine";
    if (text.rfind("[verify_proxy] ", 0) == 0) {
      who = "driver";
      text = text.substr(15);
    }
    while (!text.empty() && text.back() == '\n') text.pop_back();
    log_.add(monotonicNs(), who, text);
  }
  void flush_() override {}

 private:
  EventLog& log_;
};

// A loopback "remote server" at the original destination of the reachable case.
class UpstreamServer {
 public:
  UpstreamServer(EventLog& log) : log_(log) {}
  ~UpstreamServer() { stop(); }
  bool start(uint16_t* port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.2", &a.sin_addr);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd_, 16) != 0) return false;
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    *port = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
    return true;
  }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }
  int accepted() const { return accepted_; }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      sockaddr_in peer{};
      socklen_t len = sizeof peer;
      int c = accept4(fd_, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
      if (c < 0) continue;
      ++accepted_;
      char addr[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, &peer.sin_addr, addr, sizeof addr);
      log_.add(monotonicNs(), "upstream", "accepted a connection from " + std::string(addr) + ":" +
                                              std::to_string(ntohs(peer.sin_port)));
      std::string request;
      char buf[1024];
      pollfd rp{c, POLLIN, 0};
      while (request.find("\r\n\r\n") == std::string::npos && poll(&rp, 1, 2000) > 0) {
        ssize_t n = read(c, buf, sizeof buf);
        if (n <= 0) break;
        request.append(buf, static_cast<size_t>(n));
      }
      std::string body = std::string(kUpstreamBody) + "\n";
      std::string response = "HTTP/1.0 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
      (void)!write(c, response.data(), response.size());
      close(c);
      log_.add(monotonicNs(), "upstream", "answered " + std::to_string(response.size()) + " bytes and closed");
    }
  }
  EventLog& log_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

uint16_t closedPortOn(const char* address) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  inet_pton(AF_INET, address, &a.sin_addr);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);  // nobody listens there any more
  return ntohs(a.sin_port);
}

std::string shortLayer(const std::string& layer) {
  return layer.rfind("ALE_", 0) == 0 ? layer.substr(4) : layer;
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

// Which role a PID plays, learned from the children's lines "<role> (pid N): ...".
struct Roles {
  uint64_t proxy = 0, reachableApp = 0, unreachableApp = 0;
  std::string roleOf(uint64_t pid) const {
    if (pid == proxy) return "proxy";
    if (pid == reachableApp || pid == unreachableApp) return "app";
    return "pid " + std::to_string(pid);
  }
};

void addTraceEvents(EventLog& log, const std::vector<trace::ClassifyRecord>& records, const Roles& roles) {
  for (const auto& r : records) {
    std::string who = "engine";
    std::string what = "classify " + shortLayer(r.layer) + " for " + roles.roleOf(r.pid) + ": " + r.protocol + " " +
                       r.local + " -> " + r.remote;
    if (!r.flags.empty()) what += " [" + join(r.flags, ",") + "]";
    log.add(r.startNs, who, what);
    for (const auto& m : r.modifications) log.add(r.startNs + 1, who, "  modified by filter " + std::to_string(m.filterId) + ": " + m.what);
    if (!r.redirectState.empty())
      log.add(r.startNs + 1, who, "  FwpsQueryConnectionRedirectState0 -> " + r.redirectState);
    if (r.pendNs) log.add(r.pendNs, who, "  classify #" + std::to_string(r.id) + " pended (the app's connect() waits)");
    if (r.completeNs) log.add(r.completeNs, who, "  classify #" + std::to_string(r.id) + " completed by the driver");
    std::string verdict = "  verdict " + r.verdict;
    if (r.verdict == "PERMIT") verdict += " -> " + r.finalDestination;
    log.add(r.endNs ? r.endNs : r.startNs + 2, who, verdict);
  }
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

int runDemo(const DemoOptions& o) {
  if (auto missing = linux_backend::checkLinuxFeatures()) {
    std::fprintf(stderr, "%s\n", missing->c_str());
    return 1;
  }
  if (access(o.driver.c_str(), R_OK) != 0) {
    std::fprintf(stderr, "openwfp demo: driver %s not found (build the project first: make demo)\n", o.driver.c_str());
    return 1;
  }
  RuntimeOptions ro;
  ro.verifier = true;
  ro.pendDeadline = std::chrono::seconds(10);
  Runtime::reset(ro);
  Runtime& rt = Runtime::current();

  EventLog log;
  auto previousLogger = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("demo", std::make_shared<CaptureSink>(log)));
  std::mutex recMu;
  std::vector<trace::ClassifyRecord> records;
  rt.tracer().addSink([&](const trace::ClassifyRecord& r) {
    std::lock_guard lk(recMu);
    records.push_back(r);
  });
  std::vector<verifier::Violation> violations;
  rt.verifier().addListener([&](const verifier::Violation& v) {
    std::lock_guard lk(recMu);
    violations.push_back(v);
  });

  std::printf("openwfp demo: verify-before-accept (SPEC S10) with the verify_proxy callout driver\n\n");
  control::ControlServer server;
  if (auto err = server.start()) {
    spdlog::set_default_logger(previousLogger);
    std::fprintf(stderr, "%s\n", err->c_str());
    return 1;
  }
  DriverHost drivers;
  log.add(monotonicNs(), "engine", "loading driver " + o.driver);
  if (auto r = drivers.load(o.driver); !r) {
    spdlog::set_default_logger(previousLogger);
    std::fprintf(stderr, "openwfp demo: %s\n", r.error.c_str());
    return 1;
  }
  UpstreamServer upstream(log);
  uint16_t upPort = 0;
  if (!upstream.start(&upPort)) {
    spdlog::set_default_logger(previousLogger);
    std::fprintf(stderr, "openwfp demo: cannot listen on 127.0.0.2 (%s)\n", std::strerror(errno));
    return 1;
  }
  std::string reachable = "127.0.0.2:" + std::to_string(upPort);
  std::string unreachable = "127.0.0.3:" + std::to_string(closedPortOn("127.0.0.3"));
  log.add(monotonicNs(), "upstream", "listening on " + reachable + " (the reachable destination); " + unreachable +
                                         " has no listener (the unreachable one)");

  int pipeFds[2];
  if (pipe2(pipeFds, O_CLOEXEC) != 0) return 1;
  linux_backend::SupervisorOptions so;
  so.extraEnv = {server.envEntry(), "OPENWFP_STAMP_LINES=1"};
  so.stdoutFd = pipeFds[1];
  Roles roles;
  std::vector<std::string> childLines;
  int status = 1;
  {
    linux_backend::Supervisor supervisor(rt.classifier(), so);
    auto started = supervisor.start({o.self, "demo-session", reachable, unreachable});
    close(pipeFds[1]);
    if (!started.ok) {
      close(pipeFds[0]);
      spdlog::set_default_logger(previousLogger);
      std::fprintf(stderr, "%s\n", started.error.c_str());
      return 1;
    }
    server.setLookup(linux_backend::connectionLookup(*supervisor.interceptor()));
    std::thread reader([&] {
      FILE* in = fdopen(pipeFds[0], "r");
      char line[4096];
      static const std::regex role(R"(^(proxy|app) \(pid (\d+)\): (?:connect\((\S+)\))?)");
      while (fgets(line, sizeof line, in)) {
        std::string text(line);
        while (!text.empty() && text.back() == '\n') text.pop_back();
        int64_t ns;
        std::string body;
        parseStampedLine(text, ns, body);
        if (ns == 0) ns = monotonicNs();
        std::smatch m;
        if (std::regex_search(body, m, role)) {
          uint64_t pid = std::stoull(m[2]);
          std::lock_guard lk(recMu);
          if (m[1] == "proxy") roles.proxy = pid;
          else if (m[3] == reachable) roles.reachableApp = pid;
          else if (m[3] == unreachable) roles.unreachableApp = pid;
        }
        size_t colon = body.find(':');
        std::string who = colon != std::string::npos && colon < 20 ? body.substr(0, body.find_first_of(" :")) : "session";
        log.add(ns, who, colon != std::string::npos && colon < 20 ? body.substr(colon + 2 <= body.size() ? colon + 2 : colon + 1) : body);
        std::lock_guard lk(recMu);
        childLines.push_back(body);
      }
      fclose(in);
    });
    status = supervisor.wait();
    reader.join();
    server.setLookup(nullptr);
  }
  upstream.stop();
  drivers.unloadAll();
  server.stop();
  spdlog::set_default_logger(previousLogger);

  std::vector<trace::ClassifyRecord> recs;
  {
    std::lock_guard lk(recMu);
    recs = records;
  }
  addTraceEvents(log, recs, roles);
  auto events = log.sorted();
  int64_t t0 = events.empty() ? 0 : events.front().ns;
  std::printf("Timeline (ms since start; who: what)\n");
  for (const auto& e : events)
    std::printf("  %+9.3f  %-8s %s\n", static_cast<double>(e.ns - t0) / 1e6, e.who.c_str(), e.text.c_str());
  if (o.verbose) {
    std::printf("\nClassify trace records:\n");
    for (const auto& r : recs) std::printf("%s\n", r.toText().c_str());
  }

  // ---- did both cases behave as specified? ----
  struct Check {
    std::string what;
    bool ok;
  };
  std::vector<Check> reachableChecks, unreachableChecks, general;
  auto find = [&](uint64_t pid, const std::string& remote, const char* layerPart) -> const trace::ClassifyRecord* {
    for (const auto& r : recs)
      if (r.pid == pid && r.remote == remote && contains(r.layer, layerPart)) return &r;
    return nullptr;
  };
  auto lineWith = [&](const std::string& a, const std::string& b) {
    for (const auto& l : childLines)
      if (contains(l, a) && contains(l, b)) return true;
    return false;
  };
  const auto* appR = find(roles.reachableApp, reachable, "CONNECT_REDIRECT");
  const auto* proxyOut = find(roles.proxy, reachable, "CONNECT_REDIRECT");
  const auto* appU = find(roles.unreachableApp, unreachable, "CONNECT_REDIRECT");
  reachableChecks.push_back({"the app's connect was pended, then permitted to the proxy",
                             appR && appR->pendNs && appR->verdict == "PERMIT" && contains(appR->finalDestination, "127.0.0.1:")});
  reachableChecks.push_back({"the proxy's outbound connect carried the records (IS_PROXY_CONNECTION), the driver saw it as "
                             "REDIRECTED_BY_SELF, and it was not redirected again",
                             proxyOut && proxyOut->verdict == "PERMIT" && proxyOut->finalDestination == reachable &&
                                 contains(proxyOut->redirectState, "REDIRECTED_BY_SELF") &&
                                 std::find(proxyOut->flags.begin(), proxyOut->flags.end(), "IS_PROXY_CONNECTION") !=
                                     proxyOut->flags.end()});
  reachableChecks.push_back({"the app received the upstream server's bytes through the proxy",
                             lineWith("app", std::string("\"") + kUpstreamBody + "\"")});
  reachableChecks.push_back({"the upstream server saw exactly one connection (the proxy's)", upstream.accepted() == 1});
  unreachableChecks.push_back({"the app's connect was pended, then blocked", appU && appU->pendNs && appU->verdict == "BLOCK"});
  unreachableChecks.push_back({"the app was refused (ECONNREFUSED), not accepted then reset",
                               lineWith("connect failed", "Connection refused")});
  unreachableChecks.push_back({"the proxy never accepted a connection for it", lineWith("proxy: stopped", "1 accepted")});
  general.push_back({"no verifier violations", violations.empty()});
  general.push_back({"the session ran to completion", status == 0});

  bool allOk = true;
  auto printChecks = [&](const char* title, const std::vector<Check>& checks) {
    std::printf("\n%s\n", title);
    for (const auto& c : checks) {
      std::printf("  [%s] %s\n", c.ok ? " ok " : "FAIL", c.what.c_str());
      allOk = allOk && c.ok;
    }
  };
  printChecks(("Reachable destination " + reachable + ":").c_str(), reachableChecks);
  printChecks(("Unreachable destination " + unreachable + ":").c_str(), unreachableChecks);
  printChecks("Overall:", general);
  for (const auto& v : violations)
    std::printf("  verifier: %s: %s (driver %s)\n", verifier::toString(v.code), v.message.c_str(), v.driver.c_str());
  std::printf("\n%s\n", allOk ? "demo: both cases behaved as specified" : "demo: FAILED (see above)");
  return allOk ? 0 : 1;
}

namespace {
pid_t spawn(const std::string& self, std::vector<std::string> args, int stdoutFd) {
  // argv is built before fork: this process has threads, so the child may only call
  // async-signal-safe functions (an allocation could wait forever on a lock held at fork time).
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(self.c_str()));
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    if (stdoutFd >= 0) {  // the proxy's log lines are on its stderr (S16.4)
      dup2(stdoutFd, 1);
      dup2(stdoutFd, 2);
    }
    execv(self.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}
}  // namespace

int runProxySession(const std::string& self, const std::vector<std::vector<std::string>>& commands) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return 1;
  pid_t proxy = spawn(self, {"proxy"}, p[1]);
  close(p[1]);
  std::mutex mu;
  std::condition_variable cv;
  bool ready = false;
  std::thread forward([&] {
    FILE* in = fdopen(p[0], "r");
    char line[4096];
    while (fgets(line, sizeof line, in)) {
      std::fputs(line, stdout);
      std::fflush(stdout);
      if (contains(line, "proxy: listening")) {
        std::lock_guard lk(mu);
        ready = true;
        cv.notify_all();
      }
    }
    fclose(in);
    std::lock_guard lk(mu);
    ready = true;  // EOF: the proxy is gone; do not wait any longer
    cv.notify_all();
  });
  {
    std::unique_lock lk(mu);
    cv.wait_for(lk, std::chrono::seconds(10), [&] { return ready; });
  }
  for (const auto& command : commands) {
    pid_t app = spawn(self, command, -1);
    int st;
    waitpid(app, &st, 0);
  }
  kill(proxy, SIGTERM);
  int st;
  waitpid(proxy, &st, 0);
  forward.join();
  return 0;
}

int runDemoSession(const std::string& self, const std::string& reachable, const std::string& unreachable) {
  return runProxySession(self, {{"fetch", reachable}, {"fetch", unreachable}});
}

}  // namespace openwfp::host
