// host/engine_client.cpp - the CLI's side of the engine service (engine_client.h).
#include "host/engine_client.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include "control/service_client.h"
#include "host/engine_protocol.h"
#include "net/unique_fd.h"
#include "openwfp/control.h"
#include "openwfp/linux_backend.h"

namespace openwfp::host {

using nlohmann::json;

namespace {

struct Reply {
  bool ok = false;
  int status = 0;
  json body;
  std::string error;  // one line when !ok
};

std::unique_ptr<control::ServiceClient> connectEngine(const char* who) {
  std::string error;
  auto c = control::ServiceClient::connect(control::defaultEnginePath(), error);
  if (!c) std::fprintf(stderr, "openwfp %s: %s\n", who, error.c_str());
  return c;
}

Reply call(control::ServiceClient& c, engine_ops::Op op, const json& in, int fd = -1) {
  Reply r;
  const auto payload = engine_ops::encode(in);
  const int fds[1] = {fd};
  auto res = c.call(control::kServiceEngine, op, payload, fd >= 0 ? std::span<const int>(fds) : std::span<const int>());
  if (!res) {
    r.error = std::string("the engine at ") + c.path() + " did not answer: " + std::strerror(errno);
    return r;
  }
  r.status = res->status;
  r.body = engine_ops::decode(res->payload).value_or(json::object());
  r.ok = res->status == 0;
  if (!r.ok) r.error = r.body.value("error", std::string("failed: ") + std::strerror(res->status));
  return r;
}

int simple(const char* who, engine_ops::Op op, const json& in, Reply& out) {
  auto c = connectEngine(who);
  if (!c) return 1;
  out = call(*c, op, in);
  if (!out.ok) {
    std::fprintf(stderr, "openwfp %s: %s\n", who, out.error.c_str());
    for (const auto& l : out.body.value("leaks", json::array())) std::fprintf(stderr, "  left behind: %s\n", l.get<std::string>().c_str());
    return 1;
  }
  return 0;
}

// In attach mode the supervisor serves nothing itself (the engine does): a classifier that is
// never asked.
class UnusedClassifier : public Classifier {
 public:
  void classify(StackHook, const StackRequest&, StackDone) override {}
  void connectionClosed(const std::shared_ptr<redirect::History>&) override {}
};

std::atomic<linux_backend::Supervisor*> gSupervisor{nullptr};
void forwardSignal(int sig) {
  if (auto* s = gSupervisor.load()) s->forwardSignal(sig);
}

}  // namespace

bool attachByDefault() {
  const char* e = std::getenv(control::kEngineEnv);
  return e != nullptr && e[0] != '\0';
}

int driverLoadCommand(const std::string& file) {
  std::error_code ec;
  const std::string path = std::filesystem::absolute(file, ec).string();
  if (::access(path.c_str(), R_OK) != 0) {
    std::fprintf(stderr, "openwfp driver load: %s: %s\n", file.c_str(), std::strerror(errno));
    return 1;
  }
  Reply r;
  if (int rc = simple("driver load", engine_ops::DriverLoad, json{{"path", path}}, r)) return rc;
  std::printf("loaded %s\n", r.body.value("name", "?").c_str());
  return 0;
}

int driverUnloadCommand(const std::string& name) {
  Reply r;
  if (int rc = simple("driver unload", engine_ops::DriverUnload, json{{"name", name}}, r)) return rc;
  const auto leaks = r.body.value("leaks", json::array());
  for (const auto& l : leaks) std::printf("leak: %s\n", l.get<std::string>().c_str());
  std::printf("unloaded %s%s\n", name.c_str(), leaks.empty() ? "" : " (with leaks, above)");
  return 0;
}

int driverListCommand(bool asJson) {
  Reply r;
  if (int rc = simple("driver list", engine_ops::DriverList, json::object(), r)) return rc;
  if (asJson) {
    std::printf("%s\n", r.body["drivers"].dump(2).c_str());
    return 0;
  }
  for (const auto& d : r.body["drivers"]) {
    std::printf("%-24s %s\n", d.value("name", "").c_str(), d.value("path", "").c_str());
  }
  return 0;
}

int showStateCommand(bool asJson) {
  Reply r;
  if (int rc = simple("show state", engine_ops::ShowState, json{{"json", asJson}}, r)) return rc;
  if (asJson) {
    std::printf("%s\n", r.body.dump(2).c_str());
  } else {
    std::fputs(r.body.value("text", "").c_str(), stdout);
  }
  return 0;
}

int showObjectsCommand(const std::string& kind, bool asJson) {
  Reply r;
  if (int rc = simple(("show " + kind).c_str(), engine_ops::ShowObjects, json{{"kind", kind}, {"json", asJson}}, r)) return rc;
  const std::string text = r.body.value("text", "");
  std::fputs(text.c_str(), stdout);
  if (!text.empty() && text.back() != '\n') std::fputc('\n', stdout);
  return 0;
}

int policyLoadCommand(const std::string& file) {
  std::error_code ec;
  const std::string path = std::filesystem::absolute(file, ec).string();
  Reply r;
  if (int rc = simple("policy load", engine_ops::PolicyLoad, json{{"path", path}}, r)) return rc;
  std::printf("%s: %zu rule(s) loaded\n", file.c_str(), r.body.value("rules", size_t{0}));
  for (const auto& l : r.body.value("filters", json::array())) std::printf("  %s\n", l.get<std::string>().c_str());
  return 0;
}

int policyUnloadCommand() {
  Reply r;
  if (int rc = simple("policy unload", engine_ops::PolicyUnload, json::object(), r)) return rc;
  std::printf("policy rules removed\n");
  return 0;
}

int runAttached(const RunOptions& options) {
  const char* who = "run --attach";
  if (!options.drivers.empty() || options.verifier || !options.traceFile.empty() || !options.traceTextFile.empty() ||
      !options.policyFile.empty()) {
    std::fprintf(stderr,
                 "openwfp run --attach: --driver, --policy, --verifier and --trace belong to the engine "
                 "(`openwfp driver load`, `openwfp policy load`, `openwfp engine --verifier --trace FILE`)\n");
    return 2;
  }
  if (auto missing = linux_backend::checkLinuxFeatures()) {
    std::fprintf(stderr, "%s\n", missing->c_str());
    return 1;
  }
  auto engine = connectEngine(who);
  if (!engine) return 1;
  Reply hello = call(*engine, engine_ops::Hello, json::object());
  if (!hello.ok) {
    std::fprintf(stderr, "openwfp %s: %s\n", who, hello.error.c_str());
    return 1;
  }
  const int enginePid = hello.body.value("pid", 0);
  if (!options.waitForDevice.empty()) {
    const long ms = static_cast<long>(options.waitTimeoutSeconds * 1000);
    Reply w = call(*engine, engine_ops::WaitDevice, json{{"device", options.waitForDevice}, {"timeoutMs", ms}});
    if (!w.ok) {
      std::fprintf(stderr, "openwfp %s: %s\n", who, w.error.c_str());
      return 1;
    }
  }

  linux_backend::SupervisorOptions so;
  so.extraEnv = {std::string(control::kSocketEnv) + "=" + engine->path(),
                 std::string(control::kEngineEnv) + "=" + engine->path()};
  if (enginePid > 0) so.protectedPids = {enginePid};
  json argv = json::array();
  for (const auto& a : options.command) argv.push_back(a);
  so.handOff = [&](int listener, int root, int command) -> std::string {
    Reply a = call(*engine, engine_ops::Attach,
                   json{{"root", root}, {"command", command}, {"group", static_cast<int>(::getpgrp())}, {"argv", argv}},
                   listener);
    ::close(listener);  // the engine holds the only copy now: if it dies, the calls fail closed
    return a.ok ? std::string() : "openwfp run --attach: " + a.error;
  };
  // The engine's end of the connection closes only when the engine goes away (or detaches us):
  // from then on the tree's calls fail closed (S14.3); say so at once.
  net::UniqueFd wake[2];
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) {
    std::fprintf(stderr, "openwfp %s: pipe: %s\n", who, std::strerror(errno));
    return 1;
  }
  wake[0].reset(p[0]);
  wake[1].reset(p[1]);
  std::atomic<bool> engineLost{false};
  std::thread watcher;
  int status;
  {
    UnusedClassifier unused;
    linux_backend::Supervisor supervisor(unused, so);
    auto started = supervisor.start(options.command);
    if (!started.ok) {
      std::fprintf(stderr, "%s\n", started.error.c_str());
      return started.exitCode;
    }
    watcher = std::thread([&] {
      pollfd fds[2] = {{engine->fd(), POLLIN | POLLRDHUP, 0}, {wake[0].get(), POLLIN, 0}};
      while (::poll(fds, 2, -1) < 0 && errno == EINTR) {
      }
      if (fds[0].revents != 0 && fds[1].revents == 0) {
        engineLost = true;
        std::fprintf(stderr,
                     "openwfp run --attach: the engine (pid %d) went away: from now on %s's calls that "
                     "need it (connect, bind, sends to an address, exec) fail (nothing runs unsupervised)\n",
                     enginePid, options.command[0].c_str());
      }
    });
    gSupervisor = &supervisor;
    struct sigaction sa {};
    sa.sa_handler = forwardSignal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
    status = supervisor.wait();
    gSupervisor = nullptr;
  }
  [[maybe_unused]] ssize_t n = ::write(wake[1].get(), "x", 1);
  watcher.join();
  if (engineLost) return status == 0 ? 1 : status;
  return status;
}

}  // namespace openwfp::host
