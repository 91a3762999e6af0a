// S15.1: the KMDF subset over the device and IRP model. A KMDF control-device driver
// (kmdf_test_driver.cpp) is loaded by the DriverHost like any driver; a user-mode
// CreateFile / DeviceIoControl / CloseHandle (openwfp/device.h, in process and over the
// control channel) reaches its file-object callbacks and its queue's EvtIoDeviceControl.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>
#include <thread>
#include <vector>

#include "km/device_io.h"
#include "kmdf/kmdf_test_driver.h"
#include "openwfp/control.h"
#include "openwfp/device.h"
#include "openwfp/host.h"
#include "openwfp/openwfp.h"
#include "verifier/verifier.h"

using openwfp::Runtime;
using openwfp::host::DriverHost;
using openwfp::verifier::Code;
namespace kt = kmdftest;
namespace dev = openwfp::km::device;

namespace {

template <typename F>
bool eventually(F cond) {  // 10 s failure guard
  for (int i = 0; i < 2000; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return cond();
}

size_t countOf(const std::vector<std::string>& ev, const std::string& e) {
  size_t n = 0;
  for (const auto& x : ev) n += x == e ? 1 : 0;
  return n;
}
int indexOf(const std::vector<std::string>& ev, const std::string& e) {
  for (size_t i = 0; i < ev.size(); ++i) {
    if (ev[i] == e) return static_cast<int>(i);
  }
  return -1;
}

class Kmdf : public ::testing::Test {
 protected:
  void SetUp() override {
    unsetenv(openwfp::control::kSocketEnv);  // in-process route
    Runtime::reset();
    kt::clearEvents();
    ASSERT_TRUE(host_.load(kt::driverEntry, "kmdftest")) << "KMDF test driver did not load";
  }
  void TearDown() override {
    host_.unloadAll();
    Runtime::current().verifier().clear();
  }
  size_t misuse() { return Runtime::current().verifier().count(Code::KernelApiMisuse); }
  DriverHost host_;
};

TEST_F(Kmdf, S15_1_DeviceIoctlReachesEvtIoDeviceControl) {
  int h = openwfp_device_open(kt::kPath);
  ASSERT_GE(h, 0) << std::strerror(errno);
  char out[32] = {};
  size_t returned = 0;
  ASSERT_EQ(openwfp_device_ioctl(h, kt::kEcho, "to the queue", 12, out, sizeof out, &returned), 0);
  EXPECT_EQ(returned, 12u) << "WdfRequestCompleteWithInformation's count";
  EXPECT_EQ(std::memcmp(out, "to the queue", 12), 0);
  ULONG pid = 0;
  ASSERT_EQ(openwfp_device_ioctl(h, kt::kPid, nullptr, 0, &pid, sizeof pid, &returned), 0);
  EXPECT_EQ(pid, static_cast<ULONG>(getpid()));
  // An unknown code: the driver completes it with STATUS_INVALID_DEVICE_REQUEST.
  EXPECT_EQ(openwfp_device_ioctl(h, CTL_CODE(FILE_DEVICE_UNKNOWN, 0x999, METHOD_BUFFERED, FILE_ANY_ACCESS),
                                 nullptr, 0, nullptr, 0, nullptr),
            -1);
  EXPECT_EQ(errno, ENOTTY);
  ASSERT_EQ(openwfp_device_close(h), 0);
  auto ev = kt::events();
  ASSERT_GE(ev.size(), 6u);
  EXPECT_EQ(ev.front(), "create") << "EvtDeviceFileCreate";
  EXPECT_EQ(ev[1], "ioctl " + std::to_string(kt::kEcho));
  EXPECT_EQ(ev[ev.size() - 2], "cleanup");
  EXPECT_EQ(ev.back(), "close");
  EXPECT_EQ(dev::outstandingIrps(), 0u);
  EXPECT_EQ(misuse(), 0u);
}

TEST_F(Kmdf, S15_1_RetrieveBuffersCheckTheirLengths) {
  int h = openwfp_device_open(kt::kPath);
  ASSERT_GE(h, 0);
  char out[4];
  EXPECT_EQ(openwfp_device_ioctl(h, kt::kNoBuffer, "abcd", 4, nullptr, 0, nullptr), -1);
  EXPECT_EQ(openwfp_device_last_status(), STATUS_BUFFER_TOO_SMALL) << "4 bytes < the 16 required";
  EXPECT_EQ(openwfp_device_ioctl(h, kt::kEcho, nullptr, 0, out, sizeof out, nullptr), -1);
  EXPECT_EQ(openwfp_device_last_status(), STATUS_BUFFER_TOO_SMALL) << "no input buffer";
  EXPECT_EQ(openwfp_device_ioctl(h, kt::kEcho, "too long", 8, out, sizeof out, nullptr), -1);
  EXPECT_EQ(openwfp_device_last_status(), STATUS_BUFFER_TOO_SMALL) << "output shorter than the input";
  EXPECT_EQ(errno, ENOBUFS);
  EXPECT_EQ(openwfp_device_close(h), 0);
  EXPECT_EQ(misuse(), 0u);
}

TEST_F(Kmdf, S15_1_ManualQueueHoldsRequestsUntilRetrieveNextRequest) {
  int waiter = openwfp_device_open(kt::kPath);
  int releaser = openwfp_device_open(kt::kPath);
  ASSERT_GE(waiter, 0);
  ASSERT_GE(releaser, 0);
  LONG none = 1;
  EXPECT_EQ(openwfp_device_ioctl(releaser, kt::kRelease, &none, sizeof none, nullptr, 0, nullptr), -1);
  EXPECT_EQ(openwfp_device_last_status(), STATUS_NO_MORE_ENTRIES) << "nothing waits in the manual queue";
  auto pended = std::async(std::launch::async, [&] {
    LONG got = 0;
    size_t returned = 0;
    int rc = openwfp_device_ioctl(waiter, kt::kPend, nullptr, 0, &got, sizeof got, &returned);
    return std::make_tuple(rc, got, returned);
  });
  ASSERT_TRUE(eventually([] { return dev::pendedIrps() == 1; })) << "the request waits in the queue";
  EXPECT_EQ(pended.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  LONG value = 4242;
  ASSERT_EQ(openwfp_device_ioctl(releaser, kt::kRelease, &value, sizeof value, nullptr, 0, nullptr), 0);
  ASSERT_EQ(pended.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  auto [rc, got, returned] = pended.get();
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(got, 4242);
  EXPECT_EQ(returned, sizeof(LONG));
  EXPECT_EQ(openwfp_device_close(waiter), 0);
  EXPECT_EQ(openwfp_device_close(releaser), 0);
  EXPECT_EQ(misuse(), 0u);
}

TEST_F(Kmdf, S15_1_QueuedRequestIsCancelledWhenItsClientCloses) {
  int h = openwfp_device_open(kt::kPath);
  int other = openwfp_device_open(kt::kPath);
  ASSERT_GE(h, 0);
  ASSERT_GE(other, 0);
  auto mine = std::async(std::launch::async, [&] {
    LONG got = 0;
    int rc = openwfp_device_ioctl(h, kt::kPend, nullptr, 0, &got, sizeof got, nullptr);
    return std::make_pair(rc, errno);
  });
  auto theirs = std::async(std::launch::async, [&] {
    LONG got = 0;
    return openwfp_device_ioctl(other, kt::kPend, nullptr, 0, &got, sizeof got, nullptr);
  });
  ASSERT_TRUE(eventually([] { return dev::pendedIrps() == 2; }));
  // CloseHandle: IRP_MJ_CLEANUP cancels the requests of that file waiting in the queues.
  ASSERT_EQ(openwfp_device_close(h), 0);
  ASSERT_EQ(mine.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  auto [rc, err] = mine.get();
  EXPECT_EQ(rc, -1);
  EXPECT_EQ(err, ECANCELED);
  EXPECT_EQ(dev::pendedIrps(), 1u) << "the other handle's request still waits";
  LONG value = 7;
  ASSERT_EQ(openwfp_device_ioctl(other, kt::kRelease, &value, sizeof value, nullptr, 0, nullptr), 0);
  ASSERT_EQ(theirs.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(theirs.get(), 0);
  EXPECT_EQ(openwfp_device_close(other), 0);
  EXPECT_EQ(misuse(), 0u);
}

TEST_F(Kmdf, S15_1_DriverCancelableRequestGetsEvtRequestCancelWhenTheClientIsGone) {
  int32_t status = 0;
  auto file = dev::open(kt::kPath, static_cast<uint64_t>(getpid()), status);
  ASSERT_NE(file, nullptr) << status;
  std::promise<dev::IoResult> done;
  auto result = done.get_future();
  dev::ioctl(file, kt::kHold, {}, 0, static_cast<uint64_t>(getpid()),
             [&](dev::IoResult r) { done.set_value(std::move(r)); });
  ASSERT_TRUE(eventually([] { return dev::pendedIrps() == 1; }));
  EXPECT_EQ(result.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  // The requester went away: the I/O manager cancels its IRPs, the framework calls the
  // driver's EvtRequestCancel, which completes the request.
  dev::closeAbandoned(file, static_cast<uint64_t>(getpid()));
  ASSERT_EQ(result.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(result.get().status, STATUS_CANCELLED);
  auto ev = kt::events();
  ASSERT_GE(indexOf(ev, "cancel hold"), 0);
  EXPECT_LT(indexOf(ev, "cancel hold"), indexOf(ev, "cleanup")) << "cancelled before CLEANUP";
  EXPECT_EQ(misuse(), 0u);
}

TEST_F(Kmdf, S15_1_SpinLockAndWaitLockExclude) {
  constexpr int kThreads = 4;
  constexpr LONG kEach = 3000;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      int h = openwfp_device_open(kt::kPath);
      LONG n = kEach;
      if (h < 0 || openwfp_device_ioctl(h, kt::kCount, &n, sizeof n, nullptr, 0, nullptr) != 0) ++failures;
      if (h >= 0) openwfp_device_close(h);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(kt::counter(), kThreads * kEach) << "-2: the two counts differ; less: an update was lost";
  // A wait lock held elsewhere: acquiring with a zero timeout returns STATUS_TIMEOUT.
  int h = openwfp_device_open(kt::kPath);
  ASSERT_GE(h, 0);
  EXPECT_EQ(openwfp_device_ioctl(h, kt::kWaitLockTry, nullptr, 0, nullptr, 0, nullptr), 0);
  EXPECT_EQ(openwfp_device_last_status(), STATUS_TIMEOUT);
  EXPECT_EQ(openwfp_device_close(h), 0);
  EXPECT_EQ(misuse(), 0u);
}

TEST_F(Kmdf, S15_1_WdfObjectDeleteRunsTheContextsCleanupOnce) {
  int h = openwfp_device_open(kt::kPath);
  ASSERT_GE(h, 0);
  LONG tag = 7;
  ASSERT_EQ(openwfp_device_ioctl(h, kt::kMakeObj, &tag, sizeof tag, nullptr, 0, nullptr), 0);
  EXPECT_EQ(countOf(kt::events(), "cleanup obj 7"), 0u);
  ASSERT_EQ(openwfp_device_ioctl(h, kt::kDeleteObj, nullptr, 0, nullptr, 0, nullptr), 0);
  EXPECT_EQ(countOf(kt::events(), "cleanup obj 7"), 1u) << "the typed context (tag 7) was seen by the cleanup";
  EXPECT_EQ(openwfp_device_ioctl(h, kt::kDeleteObj, nullptr, 0, nullptr, 0, nullptr), -1);
  EXPECT_EQ(openwfp_device_last_status(), STATUS_NOT_FOUND);
  tag = 9;  // left to the framework: deleted with its parent, the device
  ASSERT_EQ(openwfp_device_ioctl(h, kt::kMakeObj, &tag, sizeof tag, nullptr, 0, nullptr), 0);
  EXPECT_EQ(openwfp_device_close(h), 0);
  auto leaks = host_.unload("kmdftest");
  EXPECT_TRUE(leaks.empty()) << leaks.size() << " leaks, first: " << (leaks.empty() ? "" : leaks[0].what);
  auto ev = kt::events();
  int unload = indexOf(ev, "unload"), obj = indexOf(ev, "cleanup obj 9"), device = indexOf(ev, "cleanup device"),
      driver = indexOf(ev, "cleanup driver");
  ASSERT_GE(unload, 0);
  EXPECT_LT(unload, obj) << "EvtDriverUnload deletes the device";
  EXPECT_LT(obj, device) << "children are cleaned up before their parent";
  EXPECT_LT(device, driver);
  EXPECT_EQ(countOf(ev, "cleanup obj 9"), 1u);
  EXPECT_EQ(openwfp_device_open(kt::kPath), -1) << "the device and its link are gone";
  EXPECT_EQ(misuse(), 0u);
}

TEST_F(Kmdf, S15_1_StaleHandlesAreReportedNotFollowed) {
  int dummy = 0;
  WdfRequestComplete(reinterpret_cast<WDFREQUEST>(&dummy), STATUS_SUCCESS);
  EXPECT_EQ(misuse(), 1u) << "a handle that is no framework object";
  PVOID buffer = nullptr;
  EXPECT_EQ(WdfRequestRetrieveInputBuffer(nullptr, 0, &buffer, nullptr), STATUS_INVALID_PARAMETER);
  EXPECT_EQ(misuse(), 2u);
  WDFSPINLOCK lock = nullptr;
  ASSERT_EQ(WdfSpinLockCreate(WDF_NO_OBJECT_ATTRIBUTES, &lock), STATUS_SUCCESS);
  WdfObjectDelete(lock);
  WdfObjectDelete(lock);
  EXPECT_EQ(misuse(), 3u) << "deleted twice";
  auto v = Runtime::current().verifier().violations();
  ASSERT_FALSE(v.empty());
  EXPECT_NE(v.back().message.find("WdfObjectDelete"), std::string::npos) << v.back().message;
}

TEST(KmdfChannel, S15_1_IoctlOverTheControlChannelReachesEvtIoDeviceControl) {
  Runtime::reset();
  kt::clearEvents();
  openwfp::control::ControlServer server;
  auto err = server.start();
  ASSERT_FALSE(err.has_value()) << *err;
  setenv(openwfp::control::kSocketEnv, server.path().c_str(), 1);
  DriverHost host;
  ASSERT_TRUE(host.load(kt::driverEntry, "kmdftest"));
  int h = openwfp_device_open(kt::kPath);
  ASSERT_GE(h, 0) << std::strerror(errno);
  char out[32] = {};
  size_t returned = 0;
  EXPECT_EQ(openwfp_device_ioctl(h, kt::kEcho, "over the channel", 16, out, sizeof out, &returned), 0);
  EXPECT_EQ(returned, 16u);
  EXPECT_EQ(std::memcmp(out, "over the channel", 16), 0);
  EXPECT_EQ(openwfp_device_close(h), 0);
  EXPECT_TRUE(eventually([] { return countOf(kt::events(), "close") == 1; }));
  EXPECT_EQ(countOf(kt::events(), "ioctl " + std::to_string(kt::kEcho)), 1u);
  EXPECT_GE(server.stats().deviceRequests, 3u);
  unsetenv(openwfp::control::kSocketEnv);
  host.unloadAll();
  server.stop();
  EXPECT_EQ(Runtime::current().verifier().count(Code::KernelApiMisuse), 0u);
}

}  // namespace
