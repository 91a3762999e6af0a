// tests/linux/supervise_main.cpp - a small CLI around linux_backend::Supervisor with the fake
// classifier, so that tests can run the supervisor as another user (setpriv) or kill it.
//
//   openwfp_supervise [--redirect FROM=TO] [--bind-redirect FROM=TO] [--block EP] [--timeout EP]
//                     [--pend EP] [--pend-ms N] [--block-errno N]
//                     [--report-fd N] -- COMMAND [ARGS]
// Exit status: COMMAND's (or 127 when it is not found). With --report-fd, one line per
// classified call (see fake_classifier.h) and a final "stats ..." line are written to that fd.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "fake_classifier.h"
#include "openwfp/linux_backend.h"

using namespace openwfp;

namespace {

linux_backend::Supervisor* gSupervisor = nullptr;

void forward(int sig) {
  if (gSupervisor != nullptr) gSupervisor->forwardSignal(sig);
}

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr, "openwfp_supervise: %s\n", why);
  std::exit(2);
}

Endpoint endpoint(const char* text) {
  auto ep = Endpoint::parse(text);
  if (!ep) usage((std::string("bad endpoint: ") + text).c_str());
  return *ep;
}

std::pair<Endpoint, Endpoint> mapping(const char* text) {
  std::string s(text);
  auto eq = s.find('=');
  if (eq == std::string::npos) usage("expected FROM=TO");
  return {endpoint(s.substr(0, eq).c_str()), endpoint(s.substr(eq + 1).c_str())};
}

}  // namespace

int main(int argc, char** argv) {
  realtest::FakePolicy policy;
  linux_backend::SupervisorOptions options;
  options.interceptor.reapIntervalMs = 100;
  int reportFd = -1;
  int i = 1;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) usage(("missing value after " + a).c_str());
      return argv[++i];
    };
    if (a == "--") {
      ++i;
      break;
    } else if (a == "--redirect") {
      policy.connectRedirects.push_back(mapping(next()));
    } else if (a == "--bind-redirect") {
      policy.bindRedirects.push_back(mapping(next()));
    } else if (a == "--block") {
      policy.blocked.push_back(endpoint(next()));
    } else if (a == "--timeout") {
      policy.timedOut.push_back(endpoint(next()));
    } else if (a == "--pend") {
      policy.pended.push_back(endpoint(next()));
    } else if (a == "--pend-ms") {
      policy.pendMs = std::atoi(next());
    } else if (a == "--block-errno") {
      options.interceptor.blockErrno = std::atoi(next());
    } else if (a == "--report-fd") {
      reportFd = std::atoi(next());
    } else {
      usage(("unknown option " + a).c_str());
    }
  }
  if (i >= argc) usage("no COMMAND");
  std::vector<std::string> command(argv + i, argv + argc);

  realtest::FakeClassifier classifier(policy);
  int status;
  {
    linux_backend::Supervisor supervisor(classifier, options);
    linux_backend::StartResult started = supervisor.start(command);
    if (!started.ok) {
      std::fprintf(stderr, "%s\n", started.error.c_str());
      return started.exitCode;
    }
    gSupervisor = &supervisor;
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::signal(sig, forward);
    status = supervisor.wait();
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::signal(sig, SIG_DFL);
    gSupervisor = nullptr;
    if (reportFd >= 0) {
      std::string out;
      for (const auto& c : classifier.connects()) out += realtest::reportLine(c) + "\n";
      for (const auto& b : classifier.binds()) out += realtest::reportLine(b) + "\n";
      auto st = supervisor.interceptor()->stats();
      out += "stats notifications=" + std::to_string(st.notifications) +
             " continued=" + std::to_string(st.continued) +
             " redirected=" + std::to_string(st.redirected) +
             " blocked=" + std::to_string(st.blocked) + " failed=" + std::to_string(st.failed) +
             " pended=" + std::to_string(st.pended) +
             " closed=" + std::to_string(st.connectionsClosed) +
             " syncwakeup=" + std::to_string(st.syncWakeUp ? 1 : 0) + "\n";
      [[maybe_unused]] ssize_t n = ::write(reportFd, out.data(), out.size());
    }
  }
  return status;
}
