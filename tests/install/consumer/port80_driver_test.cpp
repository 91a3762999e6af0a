// The driver's test, as its author writes it against an installed openwfp: the driver as a
// shared object, the simulated stack, and the verifier helper failing the test on misuse.
#include <gtest/gtest.h>

#include <cstdlib>

#include "openwfp/gtest_verifier.h"
#include "openwfp/host.h"
#include "openwfp/sim.h"
#include "openwfp/version.h"

class Port80Test : public openwfp::verify::VerifiedTest {
 protected:
  void SetUp() override {
    VerifiedTest::SetUp();
    const char* path = std::getenv("PORT80_DRIVER");  // another build of the driver
    auto loaded = host.load(path != nullptr ? path : DRIVER_SO);
    ASSERT_TRUE(loaded) << loaded.error;
  }
  void TearDown() override {
    for (const auto& leak : host.unloadAll()) ADD_FAILURE() << leak.what;
    VerifiedTest::TearDown();
  }
  openwfp::host::DriverHost host;
};

TEST_F(Port80Test, RedirectsPort80ToTheLocalProxy) {
  EXPECT_STREQ(openwfp_version(), OPENWFP_VERSION_STRING);
  openwfp::sim::Stack stack;
  auto& proxy = stack.process(777, "/usr/sbin/proxy", 0);
  const int listener = proxy.socket(openwfp::IpVersion::V4, openwfp::Protocol::Tcp);
  ASSERT_EQ(proxy.bind(listener, *openwfp::Endpoint::parse("127.0.0.1:8080")), 0);
  ASSERT_EQ(proxy.listen(listener), 0);
  auto& app = stack.process(4242, "/usr/bin/curl", 1000);
  auto r = app.connect(app.socket(openwfp::IpVersion::V4, openwfp::Protocol::Tcp),
                       *openwfp::Endpoint::parse("192.0.2.80:80"));
  ASSERT_EQ(r.error, 0) << r.reason;
  EXPECT_TRUE(r.redirected);
  EXPECT_EQ(r.remote.str(), "127.0.0.1:8080");
  EXPECT_EQ(proxy.accept(listener).error, 0);
}
