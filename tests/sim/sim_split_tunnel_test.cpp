// The KMDF split-tunnel example (examples/kmdf_split_tunnel, built with openwfp_add_driver into
// drivers/kmdf_split_tunnel.so) on the simulated stack: configured by IOCTLs that reach its
// EvtIoDeviceControl, it redirects the connects and binds of the configured application only,
// and its flowDeleteFn runs once when a redirected connection ends (S15.1, S15.4).
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "../../examples/kmdf_split_tunnel/split_tunnel.h"
#include "openwfp/device.h"
#include "openwfp/host.h"
#include "openwfp/openwfp.h"
#include "openwfp/sim.h"
#include "verifier/verifier.h"

using openwfp::Endpoint;
using openwfp::IpVersion;
using openwfp::Protocol;
namespace sim = openwfp::sim;

namespace {

constexpr uint64_t kTunnelPid = 777;
constexpr uint32_t v4(int a, int b, int c, int d) {
  return (uint32_t(a) << 24) | (uint32_t(b) << 16) | (uint32_t(c) << 8) | uint32_t(d);
}

class SplitTunnel : public ::testing::Test {
 protected:
  void SetUp() override {
    openwfp::Runtime::reset();
    auto loaded = host->load(std::string(OPENWFP_BINARY_DIR) + "/drivers/kmdf_split_tunnel.so");
    ASSERT_TRUE(loaded) << loaded.error;
    stack = std::make_unique<sim::Stack>();
    tunnel = stack->process(kTunnelPid, "/usr/sbin/tunnel", 0).socket(IpVersion::V4, Protocol::Tcp);
    ASSERT_EQ(tunnelProc().bind(tunnel, ep("127.0.0.4:9000")), 0);
    ASSERT_EQ(tunnelProc().listen(tunnel), 0);
    origin = originProc().socket(IpVersion::V4, Protocol::Tcp);
    ASSERT_EQ(originProc().bind(origin, ep("127.0.0.2:80")), 0);
    ASSERT_EQ(originProc().listen(origin), 0);
    device = openwfp::device::open(ST_DEVICE_PATH, kConfigPid);
    ASSERT_GE(device, 0) << "the driver's control device";
  }
  void TearDown() override {
    if (device >= 0) openwfp::device::close(device, kConfigPid);
    stack.reset();
    for (const auto& leak : host->unloadAll()) ADD_FAILURE() << leak.what;
    host.reset();
    for (const auto& v : openwfp::Runtime::current().verifier().violations())
      ADD_FAILURE() << "verifier: " << v.message;
  }
  static Endpoint ep(const char* text) { return *Endpoint::parse(text); }
  sim::Process& curl() { return stack->process(4242, "/usr/bin/curl", 1000); }
  sim::Process& wget() { return stack->process(4343, "/usr/bin/wget", 1000); }
  sim::Process& tunnelProc() { return stack->process(kTunnelPid, "/usr/sbin/tunnel", 0); }
  sim::Process& originProc() { return stack->process(888, "/usr/sbin/origin", 0); }

  void addRule(const ST_APP_RULE& rule) {
    ASSERT_EQ(openwfp::device::ioctl(device, ST_IOCTL_ADD_APP, &rule, sizeof rule, nullptr, 0, nullptr,
                                     kConfigPid),
              0);
  }
  ST_STATS stats() {
    ST_STATS s{};
    size_t n = 0;
    EXPECT_EQ(openwfp::device::ioctl(device, ST_IOCTL_GET_STATS, nullptr, 0, &s, sizeof s, &n, kConfigPid), 0);
    EXPECT_EQ(n, sizeof s);
    return s;
  }
  static ST_APP_RULE curlRule() {
    ST_APP_RULE r{};
    std::snprintf(r.path, sizeof r.path, "/usr/bin/curl");
    r.connectFrom = v4(127, 0, 0, 2);
    r.connectTo = v4(127, 0, 0, 4);
    r.connectToPort = 9000;
    r.connectTargetPid = kTunnelPid;
    r.bindTo = v4(127, 0, 0, 3);
    return r;
  }

  static constexpr uint64_t kConfigPid = 555;
  std::unique_ptr<openwfp::host::DriverHost> host = std::make_unique<openwfp::host::DriverHost>();
  std::unique_ptr<sim::Stack> stack;
  int tunnel = -1;
  int origin = -1;
  int device = -1;
};

}  // namespace

TEST_F(SplitTunnel, S15_1_IoctlsReachEvtIoDeviceControl) {
  ST_STATS s = stats();
  EXPECT_EQ(s.ioctls, 1u) << "GET_STATS itself";
  EXPECT_EQ(s.rules, 0u);
  addRule(curlRule());
  s = stats();
  EXPECT_EQ(s.rules, 1u);
  EXPECT_EQ(s.ioctls, 3u);
  EXPECT_EQ(openwfp::device::ioctl(device, 0x00222FFCu, nullptr, 0, nullptr, 0, nullptr, kConfigPid), -1);
  EXPECT_EQ(errno, ENOTTY) << "an unknown code: STATUS_INVALID_DEVICE_REQUEST";
  EXPECT_EQ(openwfp::device::ioctl(device, ST_IOCTL_CLEAR, nullptr, 0, nullptr, 0, nullptr, kConfigPid), 0);
  EXPECT_EQ(stats().rules, 0u);
}

TEST_F(SplitTunnel, S15_4_ConfiguredAppIsRedirectedAnotherIsNot) {
  addRule(curlRule());
  const int a = curl().socket(IpVersion::V4, Protocol::Tcp);
  sim::ConnectResult r = curl().connect(a, ep("127.0.0.2:80"));
  ASSERT_TRUE(r.ok()) << r.reason;
  EXPECT_TRUE(r.redirected);
  EXPECT_EQ(r.remote, ep("127.0.0.4:9000"));
  sim::AcceptResult acc = tunnelProc().accept(tunnel, std::chrono::seconds(5));
  ASSERT_TRUE(acc.ok()) << "the tunnel listener gets curl's connection";

  const int b = wget().socket(IpVersion::V4, Protocol::Tcp);
  sim::ConnectResult w = wget().connect(b, ep("127.0.0.2:80"));
  ASSERT_TRUE(w.ok()) << w.reason;
  EXPECT_FALSE(w.redirected) << "wget has no rule";
  EXPECT_EQ(w.remote, ep("127.0.0.2:80"));

  const int c = curl().socket(IpVersion::V4, Protocol::Tcp);
  sim::ConnectResult other = curl().connect(c, ep("127.0.0.2:22"));
  EXPECT_TRUE(other.ok() && other.redirected && other.remote == ep("127.0.0.4:9000"))
      << "curl to another port of 127.0.0.2 is redirected too (the rule names the address)";
  const int d = curl().socket(IpVersion::V4, Protocol::Tcp);
  EXPECT_EQ(curl().connect(d, ep("127.0.0.9:80")).error, ECONNREFUSED)
      << "curl to another address is left alone (nobody listens there)";

  ST_STATS s = stats();
  EXPECT_EQ(s.connectRedirects, 2u);
  EXPECT_EQ(s.flowsTracked, 2u);
  EXPECT_EQ(s.flowsDeleted, 0u) << "flows still open";
}

TEST_F(SplitTunnel, S15_4_FlowDeleteRunsOnceWhenTheRedirectedConnectionCloses) {
  addRule(curlRule());
  const int a = curl().socket(IpVersion::V4, Protocol::Tcp);
  ASSERT_TRUE(curl().connect(a, ep("127.0.0.2:80")).ok());
  sim::AcceptResult acc = tunnelProc().accept(tunnel, std::chrono::seconds(5));
  ASSERT_TRUE(acc.ok());
  EXPECT_EQ(stats().flowsTracked, 1u);
  ASSERT_EQ(curl().close(a), 0);
  EXPECT_EQ(stats().flowsDeleted, 0u) << "the accepted end is still open";
  ASSERT_EQ(tunnelProc().close(acc.fd), 0);
  EXPECT_EQ(stats().flowsDeleted, 1u) << "flowDeleteFn when the flow ended";
  EXPECT_EQ(stats().flowsDeleted, 1u);
}

TEST_F(SplitTunnel, S15_4_BindRedirectMovesTheLocalAddressOfTheConfiguredAppOnly) {
  addRule(curlRule());
  const int a = curl().socket(IpVersion::V4, Protocol::Tcp);
  ASSERT_EQ(curl().bind(a, ep("127.0.0.1:5000")), 0);
  Endpoint local;
  ASSERT_EQ(curl().getsockname(a, local), 0);
  EXPECT_EQ(local, ep("127.0.0.3:5000")) << "address moved, port kept";
  const int b = wget().socket(IpVersion::V4, Protocol::Tcp);
  ASSERT_EQ(wget().bind(b, ep("127.0.0.1:5001")), 0);
  ASSERT_EQ(wget().getsockname(b, local), 0);
  EXPECT_EQ(local, ep("127.0.0.1:5001"));
  EXPECT_EQ(stats().bindRedirects, 1u);
}
