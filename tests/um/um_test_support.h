// tests/um/um_test_support.h - a fixture for the user-mode management API tests (SPEC S14.4-7):
// a fresh Runtime, a ManagementService with a state directory of its own, the fwpmu.h client
// connected to it in-process, a synchronous connect classify, and the example program.
#pragma once

#include <gtest/gtest.h>

#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "openwfp/openwfp.h"
#include "openwfp/stack.h"
#include "openwfp/um/fwpmu.h"
#include "direct_transport.h"

extern "C" int manage_filters_main(int argc, char** argv);

namespace umtest {

inline constexpr uint32_t kEngineUid = 4000;

class UmTest : public ::testing::Test {
 public:
  void SetUp() override {
    openwfp::Runtime::reset();
    char tmpl[] = "/tmp/openwfp-um-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir = tmpl;
    start();
  }
  void TearDown() override {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    openwfp::Runtime::reset();
  }
  // A ManagementService on the current Runtime, clients connecting as `uid`.
  void start(uint32_t uid = kEngineUid) {
    service = std::make_unique<openwfp::um::ManagementService>(
        openwfp::um::ManagementOptions{kEngineUid, dir});
    connections = std::make_unique<DirectConnections>(*service, uid);
  }
  void stop() {
    connections.reset();
    service.reset();
  }
  // An engine "restart": the service goes, the engine is new, a service restores.
  std::optional<std::string> restart() {
    stop();
    openwfp::Runtime::reset();
    start();
    return service->restore();
  }

  // Runs examples/manage_filters with these arguments; its exit status and what it printed.
  int manage(std::vector<std::string> args, std::string* out = nullptr) {
    std::vector<char*> argv;
    std::string name = "manage_filters";
    argv.push_back(name.data());
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::testing::internal::CaptureStdout();
    int rc = manage_filters_main(static_cast<int>(argv.size() - 1), argv.data());
    std::string printed = ::testing::internal::GetCapturedStdout();
    if (out) *out = printed;
    return rc;
  }

  // A TCP connect to dst:port classified at once; its action.
  static openwfp::Action connect(uint32_t dst, uint16_t port) {
    openwfp::ConnectRequest r;
    r.process.pid = 4242;
    r.process.uid = 1000;
    r.process.imagePath = "/usr/bin/curl";
    r.protocol = openwfp::Protocol::Tcp;
    r.local = openwfp::Endpoint::v4(0x7F000001, 40000);
    r.remote = openwfp::Endpoint::v4(dst, port);
    r.socketId = 1;
    std::optional<openwfp::ConnectVerdict> verdict;
    openwfp::Runtime::current().classifier().classify(
        openwfp::StackHook::Connect, r, [&](const openwfp::ConnectVerdict& v) { verdict = v; });
    EXPECT_TRUE(verdict.has_value()) << "classify did not complete synchronously";
    return verdict ? verdict->action : openwfp::Action::Permit;
  }

  HANDLE open(bool dynamic = false) {
    FWPM_SESSION0 s{};
    s.flags = dynamic ? FWPM_SESSION_FLAG_DYNAMIC : 0;
    HANDLE h = nullptr;
    EXPECT_EQ(FwpmEngineOpen0(nullptr, RPC_C_AUTHN_WINNT, nullptr, &s, &h), static_cast<DWORD>(ERROR_SUCCESS));
    return h;
  }

  std::vector<std::string> files() const {
    std::vector<std::string> out;
    for (auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path().filename());
    return out;
  }

  std::string dir;
  std::unique_ptr<openwfp::um::ManagementService> service;
  std::unique_ptr<DirectConnections> connections;
};

// The keys examples/manage_filters uses.
inline const GUID kExampleFilter = {0x6f3c2a10, 0x8d2b, 0x4c55, {0x9a, 0x41, 0x3b, 0x7e, 0x0c, 0x1d, 0x2e, 0x03}};
inline const GUID kExampleSubLayer = {0x6f3c2a10, 0x8d2b, 0x4c55, {0x9a, 0x41, 0x3b, 0x7e, 0x0c, 0x1d, 0x2e, 0x02}};
inline const GUID kExampleProvider = {0x6f3c2a10, 0x8d2b, 0x4c55, {0x9a, 0x41, 0x3b, 0x7e, 0x0c, 0x1d, 0x2e, 0x01}};

inline constexpr uint32_t kBlocked = 0x7F000009;  // 127.0.0.9

}  // namespace umtest
