// Device I/O into the verify_proxy driver (drivers/verify_proxy.so) with any codes, buffers and
// lengths, interleaved with connects it pends: the properties of
// tests/support/device_ioctl_properties.h (shared with the libFuzzer target
// fuzz/device_ioctl_fuzz.cpp, which compiles the driver in) over the seed corpus
// fuzz/seeds/device_ioctl/ and a fixed random corpus. Each input loads and unloads the driver.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>

#include "support/device_ioctl_properties.h"
#include "support/fuzz_replay.h"

namespace ts = openwfp::testing_support;
namespace dp = openwfp::device_props;

TEST(VerifyProxyIoctlFuzz, S12_4_DriverIoctlBuffersKeepTheirBounds) {
  unsetenv("OPENWFP_SOCKET");  // the driver is in this process
  const auto level = spdlog::get_level();
  spdlog::set_level(spdlog::level::warn);  // the driver's DbgPrint lines, per input
  const auto corpus = ts::seedCorpus("device_ioctl", dp::seeds());
  EXPECT_FALSE(corpus.empty());
  const std::string path = std::string(OPENWFP_BINARY_DIR) + "/drivers/verify_proxy.so";
  ts::replay([&](std::span<const uint8_t> in) {
    return dp::checkDriverIoctls(in, [&](openwfp::host::DriverHost& host) { return host.load(path); });
  }, corpus, 150, 250, 200);
  spdlog::set_level(level);
  openwfp::Runtime::reset();
}
