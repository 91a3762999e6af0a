// fuzz/device_ioctl_fuzz.cpp - libFuzzer target for device I/O into a driver: the verify_proxy
// example driver (examples/verify_proxy/verify_proxy.c, compiled in) behind the simulated I/O
// manager (src/km/device_io.cpp), with an application's connects in the simulated stack that
// the driver pends (S12.4, S10.1, S11.1).
//
// The input is a sequence of operations (tests/support/device_ioctl_properties.h): CreateFile,
// CloseHandle, an abandoned handle, DeviceIoControl with any code, input bytes and lengths and
// output length, a connect. The properties (shared with
// VerifyProxyIoctlFuzz.S12_4_DriverIoctlBuffersKeepTheirBounds) are checked, not only the
// absence of a crash: each IRP completed exactly once with the status a model of the channel
// gives, Information within the output length, each pended connect ending as the proxy said, no
// verifier violation and no leak at unload; ASan watches the system buffers.
#include <spdlog/spdlog.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "support/device_ioctl_properties.h"
#include "support/hex_bytes.h"

extern "C" int32_t DriverEntry(struct _DRIVER_OBJECT*, struct _UNICODE_STRING*);

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);  // DbgPrint and load/unload lines
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  const std::string failure = openwfp::device_props::checkDriverIoctls(bytes, [](openwfp::host::DriverHost& host) {
    return host.load(&DriverEntry, "verify_proxy");
  });
  if (!failure.empty()) {
    std::fprintf(stderr, "device_ioctl_fuzz: %s\n  input: %s\n", failure.c_str(),
                 openwfp::testing_support::hexBytes(bytes, 4096).c_str());
    std::abort();
  }
  return 0;
}
