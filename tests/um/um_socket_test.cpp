// tests/um/um_socket_test.cpp - the fwpmu.h client over the real control channel (SPEC S14.4-
// S14.6): a ControlServer whose service handler is a ManagementService, reached through
// OPENWFP_ENGINE like `openwfp engine`; examples/manage_filters blocks 127.0.0.9:9 through it; a
// process that dies with a dynamic session loses its filter; the caller's uid comes from the
// kernel's credentials.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>
#include <thread>

#include "control/service_client.h"
#include "um_test_support.h"

using namespace umtest;
using openwfp::Action;

namespace {

class UmSocket : public UmTest {
 protected:
  void SetUp() override {
    UmTest::SetUp();
    connections.reset();  // the default transport: the engine socket
    ::chmod(dir.c_str(), 0711);
    serve(::getuid());
  }
  void TearDown() override {
    server.reset();
    ::unsetenv("OPENWFP_ENGINE");
    UmTest::TearDown();
  }
  // A ControlServer at dir/engine.sock answering management calls as an engine of `uid`.
  void serve(uint32_t uid) {
    server.reset();
    service = std::make_unique<openwfp::um::ManagementService>(openwfp::um::ManagementOptions{uid, dir});
    openwfp::control::ControlServerOptions o;
    o.socketPath = dir + "/engine.sock";
    auto* svc = service.get();
    o.serviceHandler = [svc](openwfp::control::ServiceRequest& r) { return svc->handle(r); };
    o.connectionClosed = [svc](uint64_t c) { svc->connectionClosed(c); };
    server = std::make_unique<openwfp::control::ControlServer>(o);
    auto err = server->start();
    ASSERT_FALSE(err.has_value()) << *err;
    ::setenv("OPENWFP_ENGINE", o.socketPath.c_str(), 1);
  }
  std::unique_ptr<openwfp::control::ControlServer> server;
};

// Waits (bounded) until a connect to 127.0.0.9:9 gets `want`.
bool eventually(Action want) {
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < until) {
    if (UmTest::connect(kBlocked, 9) == want) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

}  // namespace

TEST_F(UmSocket, S14_4_ManagementProgramWorksOverTheEngineSocket) {
  std::string out;
  ASSERT_EQ(manage({"add"}, &out), 0) << out;
  EXPECT_EQ(connect(kBlocked, 9), Action::Block);
  ASSERT_EQ(manage({"list"}, &out), 0) << out;
  EXPECT_NE(out.find("listed 1"), std::string::npos) << out;
  ASSERT_EQ(manage({"delete"}, &out), 0) << out;
  EXPECT_EQ(connect(kBlocked, 9), Action::Permit);
  // A dynamic session's filter goes when the program closes its handle and exits.
  ASSERT_EQ(manage({"--dynamic", "add"}, &out), 0) << out;
  EXPECT_TRUE(eventually(Action::Permit)) << "the dynamic filter outlived its session";
}

TEST_F(UmSocket, S14_5_DynamicSessionEndsWhenItsProcessDies) {
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(ready[0]);
    FWPM_SESSION0 s{};
    s.flags = FWPM_SESSION_FLAG_DYNAMIC;
    HANDLE h = nullptr;
    FWPM_FILTER_CONDITION0 c{};
    c.fieldKey = FWPM_CONDITION_IP_REMOTE_PORT;
    c.conditionValue.type = FWP_UINT16;
    c.conditionValue.uint16 = 9;
    FWPM_FILTER0 f{};
    f.displayData.name = const_cast<wchar_t*>(L"dies with its process");
    f.layerKey = FWPM_LAYER_ALE_AUTH_CONNECT_V4;
    f.action.type = FWP_ACTION_BLOCK;
    f.numFilterConditions = 1;
    f.filterCondition = &c;
    char ok = FwpmEngineOpen0(nullptr, RPC_C_AUTHN_WINNT, nullptr, &s, &h) == ERROR_SUCCESS &&
                      FwpmFilterAdd0(h, &f, nullptr, nullptr) == ERROR_SUCCESS
                  ? 'y'
                  : 'n';
    (void)!::write(ready[1], &ok, 1);
    ::pause();  // killed here, the handle never closed
    ::_exit(0);
  }
  ::close(ready[1]);
  char ok = 0;
  ASSERT_EQ(::read(ready[0], &ok, 1), 1);
  ::close(ready[0]);
  EXPECT_EQ(ok, 'y');
  EXPECT_EQ(connect(kBlocked, 9), Action::Block);
  ::kill(child, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(eventually(Action::Permit)) << "the dead process's dynamic filter is still there";
}

TEST_F(UmSocket, S14_6_TheCallerUidComesFromTheKernel) {
  if (::getuid() != 0) {
    serve(::getuid() + 1);  // an engine of another uid: this process is neither it nor root
    std::string out;
    EXPECT_EQ(manage({"add"}, &out), 1);
    EXPECT_NE(out.find("FwpmEngineOpen0: failed 0x00000005"), std::string::npos) << out;
    return;
  }
  // As root (always allowed): a child that becomes another user is refused.
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(3);
    HANDLE h = nullptr;
    DWORD st = FwpmEngineOpen0(nullptr, RPC_C_AUTHN_WINNT, nullptr, nullptr, &h);
    ::_exit(st == ERROR_ACCESS_DENIED ? 0 : st == ERROR_SUCCESS ? 1 : 2);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: the other uid was let in; 2: another error; 3: setuid failed";
  HANDLE h = open();  // root itself is let in
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(FwpmEngineClose0(h), static_cast<DWORD>(ERROR_SUCCESS));
}

TEST_F(UmSocket, S14_4_NoEngineIsEptNotRegistered) {
  server.reset();
  HANDLE h = nullptr;
  EXPECT_EQ(FwpmEngineOpen0(nullptr, RPC_C_AUTHN_WINNT, nullptr, nullptr, &h),
            static_cast<DWORD>(EPT_S_NOT_REGISTERED));
}
