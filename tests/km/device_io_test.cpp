// Device I/O between a callout driver and its user-mode side, in one process (no control
// channel): CreateFile / DeviceIoControl / CloseHandle become IRP_MJ_CREATE / DEVICE_CONTROL /
// CLEANUP / CLOSE sent to the driver's dispatch routines (km/device_io.h, openwfp/device.h).
// This is the channel of the verify-before-accept driver and its proxy (S10.1/S10.2); the
// requestor PID a dispatch routine sees is the caller's, never one it claims (S12.1/S12.3);
// misuse of IRPs is reported by the verifier (S11.1).
#include <ntddk.h>

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "support/attached_descriptor_check.h"
#include "support/device_test_driver.h"
#include "km/device_io.h"
#include "openwfp/device.h"
#include "openwfp/host.h"
#include "openwfp/openwfp.h"
#include "verifier/verifier.h"

using openwfp::Runtime;
using openwfp::host::DriverHost;
using openwfp::verifier::Code;

namespace {

using namespace devtest;

class DeviceIo : public ::testing::Test {
 protected:
  void SetUp() override {
    unsetenv("OPENWFP_SOCKET");  // in-process route
    Runtime::reset();
    clearEvents();
    ASSERT_TRUE(host_.load(testDriverEntry(), "testdev")) << "test driver did not load";
  }
  void TearDown() override {
    host_.unloadAll();
    Runtime::current().verifier().clear();
  }
  size_t violations(Code c) { return Runtime::current().verifier().count(c); }
  DriverHost host_;
};

TEST_F(DeviceIo, S10_1_DeviceOpenIoctlCloseSendsCreateControlCleanupClose) {
  int h = openwfp_device_open(kPath);
  ASSERT_GE(h, 0) << std::strerror(errno);
  const char in[] = "hello driver";
  char out[64] = {};
  size_t returned = 0;
  ASSERT_EQ(openwfp_device_ioctl(h, kEcho, in, sizeof in, out, sizeof out, &returned), 0);
  EXPECT_EQ(returned, sizeof in);
  EXPECT_STREQ(out, "hello driver");
  EXPECT_EQ(openwfp_device_last_status(), STATUS_SUCCESS);
  ASSERT_EQ(openwfp_device_close(h), 0);
  auto ev = events();
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_EQ(ev[0].major, kMjCreate);
  EXPECT_EQ(ev[1].major, kMjDeviceControl);
  EXPECT_EQ(ev[2].major, kMjCleanup);
  EXPECT_EQ(ev[3].major, kMjClose);
  for (const auto& e : ev) EXPECT_EQ(e.fileId, ev[0].fileId) << "one file object for the handle";
  EXPECT_EQ(openwfp::km::device::outstandingIrps(), 0u);
  EXPECT_EQ(violations(Code::KernelApiMisuse), 0u);
}

// The openwfp extension behind hand-off in place: a descriptor the driver attaches to an IOCTL
// reaches the requester with a successful reply, once; an error or an untaken one is closed.
TEST_F(DeviceIo, S10_2_DeviceReplyCarriesTheDescriptorTheDriverAttached) {
  int h = openwfp_device_open(kPath);
  ASSERT_GE(h, 0) << std::strerror(errno);
  expectAttachedDescriptorsDelivered(h);
  EXPECT_EQ(openwfp_device_close(h), 0);
  EXPECT_EQ(violations(Code::KernelApiMisuse), 0u);
}

TEST_F(DeviceIo, S10_1_DeviceOpenThroughEveryLinkSpellingAndGlobalRoot) {
  for (const char* path : {"\\\\.\\OwfpTestDev", "\\\\.\\owfptestdev", "\\\\.\\GLOBALROOT\\Device\\OwfpTestDev"}) {
    int h = openwfp_device_open(path);
    EXPECT_GE(h, 0) << path;
    if (h >= 0) {
      EXPECT_EQ(openwfp_device_close(h), 0);
    }
  }
  DriverHost other;
  ASSERT_TRUE(other.load(bareDriverEntry(), "baredev"));  // its link is \??\OwfpBareDev
  int h = openwfp_device_open(kBarePath);
  EXPECT_GE(h, 0);
  if (h >= 0) {
    EXPECT_EQ(openwfp_device_close(h), 0);
  }
  other.unloadAll();
}

TEST_F(DeviceIo, S10_1_DeviceUnknownOrMalformedPathFails) {
  errno = 0;
  EXPECT_EQ(openwfp_device_open("\\\\.\\NoSuchDevice"), -1);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_EQ(openwfp_device_last_status(), STATUS_OBJECT_NAME_NOT_FOUND);
  EXPECT_EQ(openwfp_device_open("/dev/null"), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(openwfp_device_last_status(), STATUS_OBJECT_NAME_INVALID);
  EXPECT_EQ(openwfp_device_open("\\\\.\\Owfp\\TestDev"), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(openwfp_device_open(nullptr), -1);
  EXPECT_EQ(errno, EFAULT);
  EXPECT_TRUE(events().empty()) << "no IRP reached the driver";
}

TEST_F(DeviceIo, S10_1_DeviceBadHandleAndBadBuffers) {
  char out[8];
  EXPECT_EQ(openwfp_device_ioctl(12345, kEcho, nullptr, 0, out, sizeof out, nullptr), -1);
  EXPECT_EQ(errno, EBADF);
  EXPECT_EQ(openwfp_device_last_status(), STATUS_INVALID_HANDLE);
  EXPECT_EQ(openwfp_device_close(12345), -1);
  EXPECT_EQ(errno, EBADF);
  int h = openwfp_device_open(kPath);
  ASSERT_GE(h, 0);
  EXPECT_EQ(openwfp_device_ioctl(h, kEcho, nullptr, 4, out, sizeof out, nullptr), -1);
  EXPECT_EQ(errno, EFAULT);
  EXPECT_EQ(openwfp_device_ioctl(h, kEcho, "abc", 3, nullptr, 8, nullptr), -1);
  EXPECT_EQ(errno, EFAULT);
  EXPECT_EQ(openwfp_device_close(h), 0);
  EXPECT_EQ(openwfp_device_close(h), -1) << "closed twice";
  EXPECT_EQ(errno, EBADF);
  EXPECT_EQ(openwfp_device_ioctl(h, kEcho, "abc", 3, out, sizeof out, nullptr), -1);
  EXPECT_EQ(errno, EBADF);
}

TEST_F(DeviceIo, S10_1_DeviceStatusesMapToErrno) {
  int h = openwfp_device_open(kPath);
  ASSERT_GE(h, 0);
  char out[16] = {};
  size_t returned = 99;
  // Output too small for the echo: STATUS_BUFFER_TOO_SMALL, nothing returned.
  EXPECT_EQ(openwfp_device_ioctl(h, kEcho, "0123456789", 10, out, 4, &returned), -1);
  EXPECT_EQ(errno, ENOBUFS);
  EXPECT_EQ(openwfp_device_last_status(), STATUS_BUFFER_TOO_SMALL);
  EXPECT_EQ(returned, 0u);
  // A warning status still delivers the driver's bytes (as DeviceIoControl does).
  EXPECT_EQ(openwfp_device_ioctl(h, kOverflow, nullptr, 0, out, sizeof out, &returned), -1);
  EXPECT_EQ(errno, EMSGSIZE);
  EXPECT_EQ(openwfp_device_last_status(), STATUS_BUFFER_OVERFLOW);
  EXPECT_EQ(returned, 4u);
  EXPECT_EQ(std::memcmp(out, "part", 4), 0);
  // Unknown code.
  EXPECT_EQ(openwfp_device_ioctl(h, ctl(77, METHOD_BUFFERED), nullptr, 0, nullptr, 0, nullptr), -1);
  EXPECT_EQ(errno, ENOTTY);
  EXPECT_EQ(openwfp_device_last_status(), STATUS_INVALID_DEVICE_REQUEST);
  // METHOD_NEITHER is delivered buffered: Type3InputBuffer and UserBuffer are the system buffer.
  EXPECT_EQ(openwfp_device_ioctl(h, kEchoNeither, "neither", 7, out, sizeof out, &returned), 0);
  EXPECT_EQ(returned, 7u);
  EXPECT_EQ(std::memcmp(out, "neither", 7), 0);
  EXPECT_EQ(openwfp_device_close(h), 0);
}

TEST_F(DeviceIo, S10_1_DeviceWithoutDispatchRoutineIsInvalidDeviceRequest) {
  DriverHost other;
  ASSERT_TRUE(other.load(bareDriverEntry(), "baredev"));
  int h = openwfp_device_open(kBarePath);
  ASSERT_GE(h, 0);
  EXPECT_EQ(openwfp_device_ioctl(h, kEcho, "x", 1, nullptr, 0, nullptr), -1);
  EXPECT_EQ(openwfp_device_last_status(), STATUS_INVALID_DEVICE_REQUEST);
  EXPECT_EQ(errno, ENOTTY);
  // DO_EXCLUSIVE: a second open is refused while the first is open.
  EXPECT_EQ(openwfp_device_open(kBarePath), -1);
  EXPECT_EQ(errno, EACCES);
  // No CLEANUP routine: the default completes it; close still works.
  EXPECT_EQ(openwfp_device_close(h), 0);
  int again = openwfp_device_open(kBarePath);
  EXPECT_GE(again, 0) << "exclusive device reopenable after close";
  if (again >= 0) openwfp_device_close(again);
  other.unloadAll();
}

TEST_F(DeviceIo, S12_3_DeviceDispatchSeesRequestorPidAtPassiveInDriverScope) {
  int h = openwfp_device_open(kPath);
  ASSERT_GE(h, 0);
  WhoAmI w{};
  size_t returned = 0;
  ASSERT_EQ(openwfp_device_ioctl(h, kWhoAmI, nullptr, 0, &w, sizeof w, &returned), 0);
  EXPECT_EQ(returned, sizeof w);
  EXPECT_EQ(w.currentPid, static_cast<uint64_t>(getpid()));
  EXPECT_EQ(w.requestorPid, static_cast<uint64_t>(getpid()));
  EXPECT_EQ(w.irql, static_cast<uint32_t>(PASSIVE_LEVEL));
  EXPECT_EQ(w.driverNamed, 1u);
  // Another "process" (explicit requestor PID, in-process): the driver sees that PID, and
  // PsGetCurrentProcessId is this process's again outside the dispatch routine.
  int other = openwfp::device::open(kPath, 4242);
  ASSERT_GE(other, 0);
  ASSERT_EQ(openwfp::device::ioctl(other, kWhoAmI, nullptr, 0, &w, sizeof w, &returned, 4242), 0);
  EXPECT_EQ(w.currentPid, 4242u);
  EXPECT_EQ(w.requestorPid, 4242u);
  EXPECT_EQ(reinterpret_cast<uint64_t>(PsGetCurrentProcessId()), static_cast<uint64_t>(getpid()));
  EXPECT_EQ(openwfp::device::close(other, 4242), 0);
  auto ev = events();
  ASSERT_GE(ev.size(), 2u);
  EXPECT_EQ(ev[ev.size() - 2].major, kMjCleanup);
  EXPECT_EQ(ev[ev.size() - 2].pid, 4242u);
  EXPECT_EQ(ev.back().major, kMjClose);
  EXPECT_EQ(openwfp_device_close(h), 0);
}

TEST_F(DeviceIo, S10_2_DevicePendedIoctlCompletedLaterFromAnotherThread) {
  int h = openwfp_device_open(kPath);
  ASSERT_GE(h, 0);
  auto waiter = std::async(std::launch::async, [h] {
    uint64_t value = 0;
    size_t returned = 0;
    int rc = openwfp_device_ioctl(h, kPend, nullptr, 0, &value, sizeof value, &returned);
    return std::make_tuple(rc, value, returned);
  });
  ASSERT_TRUE(waitForPended(1));
  EXPECT_EQ(waiter.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout) << "the IOCTL waits";
  // Other requests on the same handle go on while one is pended.
  char out[8] = {};
  EXPECT_EQ(openwfp_device_ioctl(h, kEcho, "abc", 3, out, sizeof out, nullptr), 0);
  // Completed from another thread (not a dispatch routine).
  std::thread([] { releaseAll(0xC0FFEE); }).join();
  auto [rc, value, returned] = waiter.get();
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(value, 0xC0FFEEu);
  EXPECT_EQ(returned, sizeof value);
  EXPECT_EQ(openwfp_device_close(h), 0);
  EXPECT_EQ(violations(Code::KernelApiMisuse), 0u);
}

TEST_F(DeviceIo, S10_2_DeviceCloseCleansUpPendedIoctlThenCloses) {
  int h = openwfp_device_open(kPath);
  ASSERT_GE(h, 0);
  auto waiter = std::async(std::launch::async, [h] {
    uint64_t value = 0;
    int rc = openwfp_device_ioctl(h, kPend, nullptr, 0, &value, sizeof value, nullptr);
    return std::make_pair(rc, errno);
  });
  ASSERT_TRUE(waitForPended(1));
  EXPECT_EQ(openwfp_device_close(h), 0);
  auto [rc, err] = waiter.get();
  EXPECT_EQ(rc, -1);
  EXPECT_EQ(err, ECANCELED) << "the driver cancelled the pended IRP at cleanup";
  // CLOSE comes once the pended IRP is completed (here: right after cleanup).
  EXPECT_TRUE(waitForCount(kMjClose, 1));
  EXPECT_EQ(openwfp::km::device::outstandingIrps(), 0u);
}

TEST_F(DeviceIo, S10_2_DeviceCloseDeferredUntilLastIrpCompletes) {
  // A file object whose pended IRP belongs to another handle's cleanup is not cancelled; CLOSE
  // must wait for it (here the driver only cancels IRPs of the file being cleaned up).
  int32_t status = 0;
  auto file = openwfp::km::device::open(kPath, static_cast<uint64_t>(getpid()), status);
  ASSERT_TRUE(file);
  std::promise<openwfp::km::device::IoResult> done;
  openwfp::km::device::ioctl(file, kPend, {}, 8, 1, [&](openwfp::km::device::IoResult r) { done.set_value(std::move(r)); });
  ASSERT_TRUE(waitForPended(1));
  // Take the IRP away from the cleanup routine's list so cleanup leaves it pending.
  void* held = takeOldestPended();
  ASSERT_NE(held, nullptr);
  EXPECT_EQ(openwfp::km::device::close(file, 1), STATUS_SUCCESS);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_EQ(count(kMjClose), 0u) << "CLOSE waits for the outstanding IRP";
  completeTaken(held, STATUS_SUCCESS);
  EXPECT_EQ(done.get_future().get().status, STATUS_SUCCESS);
  EXPECT_TRUE(waitForCount(kMjClose, 1)) << "CLOSE sent after the last IRP completed";
}


TEST_F(DeviceIo, S11_1_DeviceIrpMisuseIsReported) {
  int h = openwfp_device_open(kPath);
  ASSERT_GE(h, 0);
  char out[4];
  size_t returned = 0;
  // Information beyond the output buffer: clamped and reported.
  EXPECT_EQ(openwfp_device_ioctl(h, kBadInformation, nullptr, 0, out, sizeof out, &returned), 0);
  EXPECT_EQ(returned, sizeof out);
  EXPECT_EQ(violations(Code::KernelApiMisuse), 1u);
  // Returned a status without completing: completed by openwfp with that status, reported.
  EXPECT_EQ(openwfp_device_ioctl(h, kNoComplete, nullptr, 0, nullptr, 0, nullptr), 0);
  EXPECT_EQ(violations(Code::KernelApiMisuse), 2u);
  // Completed twice: reported, no crash.
  EXPECT_EQ(openwfp_device_ioctl(h, kReleaseTwice, nullptr, 0, nullptr, 0, nullptr), 0);
  EXPECT_EQ(violations(Code::KernelApiMisuse), 3u);
  // STATUS_PENDING without IoMarkIrpPending: reported; the IRP still completes later.
  auto waiter = std::async(std::launch::async, [h] {
    uint64_t v = 0;
    return openwfp_device_ioctl(h, kPendNoMark, nullptr, 0, &v, sizeof v, nullptr);
  });
  ASSERT_TRUE(waitForPended(1));
  releaseAll(1);
  EXPECT_EQ(waiter.get(), 0);
  EXPECT_EQ(violations(Code::KernelApiMisuse), 4u);
  EXPECT_EQ(openwfp_device_close(h), 0);
  Runtime::current().verifier().clear();
}

TEST_F(DeviceIo, S11_2_DeviceIrpPendingAtUnloadIsLeakAndRequesterCancelled) {
  int h = openwfp_device_open(kPath);
  ASSERT_GE(h, 0);
  auto waiter = std::async(std::launch::async, [h] {
    uint64_t v = 0;
    int rc = openwfp_device_ioctl(h, kPend, nullptr, 0, &v, sizeof v, nullptr);
    return std::make_pair(rc, errno);
  });
  ASSERT_TRUE(waitForPended(1));
  auto leaks = host_.unload("testdev");
  bool irpLeak = false;
  for (const auto& l : leaks) irpLeak = irpLeak || l.what.find("IRP_MJ_DEVICE_CONTROL") != std::string::npos;
  EXPECT_TRUE(irpLeak) << "the pended IRP is listed at unload";
  auto [rc, err] = waiter.get();
  EXPECT_EQ(rc, -1);
  EXPECT_EQ(err, ECANCELED);
  // The handle outlived the driver: calls fail, close frees it without calling the driver.
  EXPECT_EQ(openwfp_device_ioctl(h, kEcho, "a", 1, nullptr, 0, nullptr), -1);
  EXPECT_EQ(errno, ENODEV);
  EXPECT_EQ(openwfp_device_close(h), 0);
  EXPECT_EQ(openwfp_device_open(kPath), -1) << "device gone with its driver";
  EXPECT_EQ(errno, ENOENT);
  Runtime::current().verifier().clear();
}

TEST_F(DeviceIo, S10_2_DeviceManyPendedIoctlsFromManyThreads) {
  int h = openwfp_device_open(kPath);
  ASSERT_GE(h, 0);
  constexpr int kThreads = 16;
  std::vector<std::future<int>> waiters;
  for (int i = 0; i < kThreads; ++i) {
    waiters.push_back(std::async(std::launch::async, [h] {
      uint64_t v = 0;
      return openwfp_device_ioctl(h, kPend, nullptr, 0, &v, sizeof v, nullptr) == 0 && v == 7 ? 1 : 0;
    }));
  }
  ASSERT_TRUE(waitForPended(kThreads));
  releaseAll(7);
  int ok = 0;
  for (auto& w : waiters) ok += w.get();
  EXPECT_EQ(ok, kThreads);
  EXPECT_EQ(openwfp_device_close(h), 0);
}

}  // namespace
