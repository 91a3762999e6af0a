// S11.2 (what a driver leaves behind at unload is reported and released): kernel timers still
// set and DPCs still queued or running when DriverUnload returns (src/km/timers.cpp,
// src/km/dpcs.cpp, host::DriverHost). On Windows the next expiry runs into unloaded code
// (bugcheck 0xCE); here each is cancelled and reported once, a running routine is waited for,
// and no routine of the driver runs after its image is gone. The driver is
// tests/drivers/timer_driver.c. Timeouts are generous failure guards only.
#include <ntddk.h>

#include <dlfcn.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "km_test_support.h"
#include "openwfp/host.h"
#include "openwfp/openwfp.h"
#include "verifier/verifier.h"

using kmtest::eventually;
using kmtest::KernelObjects;
using openwfp::Runtime;
using openwfp::host::DriverHost;
using openwfp::verifier::Code;

namespace {

// Written by the driver's routines: one-shot, periodic, slow DPC started, slow DPC done, queued DPC.
volatile LONG gFlags[5];

LONG flag(int i) { return __atomic_load_n(&gFlags[i], __ATOMIC_ACQUIRE); }

const std::string kPath = OPENWFP_BINARY_DIR "/tests/drivers/libtimer_driver.so";

std::string joined(const std::vector<openwfp::host::Leak>& leaks) {
  std::string all;
  for (const auto& l : leaks) all += l.what + "\n";
  return all;
}

// Loads the driver and waits until its slow DPC runs (queued after the periodic timer fired).
void loadAndWaitForDpcs(DriverHost& host) {
  for (auto& f : gFlags) __atomic_store_n(&f, 0, __ATOMIC_RELEASE);
  setenv("TIMER_DRIVER_FLAGS", fmt::format("{:x}", reinterpret_cast<uintptr_t>(&gFlags[0])).c_str(), 1);
  auto r = host.load(kPath);
  ASSERT_TRUE(r) << r.error;
  ASSERT_TRUE(eventually([] { return flag(2) == 1; }))
      << "the slow DPC did not start or the periodic timer did not fire within 10 s";
}

}  // namespace

TEST_F(KernelObjects, S11_2_TimersAndDpcsLeftAtUnloadAreCancelledReportedAndNeverRunAgain) {
  unsetenv("TIMER_DRIVER_CANCEL");
  std::vector<openwfp::host::Leak> leaks;
  {
    DriverHost host;
    ASSERT_NO_FATAL_FAILURE(loadAndWaitForDpcs(host));
    leaks = host.unload("libtimer_driver");
  }
  const std::string all = joined(leaks);
  EXPECT_EQ(flag(3), 1) << "the running DPC routine returned before the unload finished";
  ASSERT_EQ(leaks.size(), 4u) << all;
  EXPECT_NE(all.find("timer "), std::string::npos) << all;
  EXPECT_NE(all.find("TimerDriverOneShot"), std::string::npos) << all;
  EXPECT_NE(all.find("periodic timer (10 ms)"), std::string::npos) << all;
  EXPECT_NE(all.find("TimerDriverPeriodic"), std::string::npos) << all;
  EXPECT_NE(all.find("routine TimerDriverQueuedDpc (libtimer_driver.so+0x"), std::string::npos) << all;
  EXPECT_NE(all.find("still queued"), std::string::npos) << all;
  EXPECT_NE(all.find("routine TimerDriverSlowDpc"), std::string::npos) << all;
  EXPECT_NE(all.find("waited for it to return"), std::string::npos) << all;
  EXPECT_EQ(count(Code::HandleLeak), 4u);
  for (const auto& v : Runtime::current().verifier().violations()) {
    EXPECT_EQ(v.driver, "libtimer_driver") << v.message;
    EXPECT_NE(v.message.find("leaked at unload"), std::string::npos) << v.message;
  }
  EXPECT_EQ(dlopen(kPath.c_str(), RTLD_NOW | RTLD_NOLOAD), nullptr) << "the library was unloaded";

  const LONG periodic = flag(1);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // ten periods
  EXPECT_EQ(flag(1), periodic) << "the periodic timer fired after unload";
  EXPECT_EQ(flag(0), 0) << "the one-shot timer's DPC ran";
  EXPECT_EQ(flag(4), 0) << "the queued DPC ran after unload";
}

TEST_F(KernelObjects, S11_2_DriverThatCancelsItsTimersAndFlushesDpcsIsClean) {
  setenv("TIMER_DRIVER_CANCEL", "1", 1);
  std::vector<openwfp::host::Leak> leaks;
  {
    DriverHost host;
    ASSERT_NO_FATAL_FAILURE(loadAndWaitForDpcs(host));
    leaks = host.unload("libtimer_driver");
  }
  unsetenv("TIMER_DRIVER_CANCEL");
  EXPECT_TRUE(leaks.empty()) << joined(leaks);
  EXPECT_TRUE(Runtime::current().verifier().violations().empty());
  EXPECT_EQ(flag(3), 1) << "KeFlushQueuedDpcs waited for the running routine";
  EXPECT_EQ(flag(4), 0) << "KeRemoveQueueDpc removed the queued DPC";
  const LONG periodic = flag(1);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(flag(1), periodic);
}
