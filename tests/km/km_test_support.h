// Shared by the tests of src/km (tests/km/<area>_test.cpp): the two fixtures whose suites span
// several files (GoogleTest requires one fixture class per suite, so each is defined once, here)
// and the helpers more than one file uses. Timeouts are generous failure guards only; no
// assertion depends on timing.
#pragma once

#include <ntddk.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <thread>

#include "km/support.h"
#include "openwfp/openwfp.h"
#include "verifier/verifier.h"

namespace kmtest {

inline constexpr LONGLONG kGuard100ns = -10LL * 1000 * 1000 * 10;  // 10 s relative: a failure guard

inline LARGE_INTEGER rel100ns(LONGLONG v) {
  LARGE_INTEGER li;
  li.QuadPart = v;
  return li;
}

// Polls cond up to 10 s (failure guard).
template <typename F>
bool eventually(F cond) {
  for (int i = 0; i < 2000; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return cond();
}

// An IRP with one stack location, not from the I/O manager: for IRP cancellation and
// cancel-safe queues.
struct ManualIrp {
  IRP irp{};
  IO_STACK_LOCATION stack{};
  ManualIrp() {
    irp.Tail.Overlay.CurrentStackLocation = &stack;
    InitializeListHead(&irp.Tail.Overlay.ListEntry);
  }
};

// Suite KernelObjects: dispatcher objects and waits, system threads, IRP cancellation,
// cancel-safe queues (waits_test, threads_test, irp_cancel_test, csq_test).
class KernelObjects : public ::testing::Test {
 protected:
  void SetUp() override { openwfp::Runtime::reset(); }
  void TearDown() override { openwfp::Runtime::current().verifier().clear(); }
  size_t count(openwfp::verifier::Code c) { return openwfp::Runtime::current().verifier().count(c); }
};

// Suite KernelSupport: the rest of the wdm.h support API, with a driver object "kdrv" per test
// (sync_test, work_items_test, driver_objects_test, time_test, rtl_test, debug_print_test).
class KernelSupport : public ::testing::Test {
 protected:
  void SetUp() override {
    openwfp::Runtime::reset();
    driver_ = static_cast<PDRIVER_OBJECT>(openwfp::km::createDriverObject("kdrv"));
  }
  void TearDown() override {
    openwfp::km::waitForWorkItems(driver_);
    openwfp::km::releaseDriverResources(driver_);
    openwfp::km::destroyDriverObject(driver_);
    openwfp::Runtime::current().verifier().clear();  // the misuse tests leave expected violations
  }
  size_t count(openwfp::verifier::Code c) { return openwfp::Runtime::current().verifier().count(c); }

  PDRIVER_OBJECT driver_ = nullptr;
};

}  // namespace kmtest
