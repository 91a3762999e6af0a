// OpenwfpIrpAttachApplicationSocket (openwfp/km/openwfp_km_ext.h): a driver hands the
// application's own socket of a pended classify to the requester of an IRP (hand-off in place,
// docs/performance.md). The stack's socket here is a pipe's write end behind a fake
// ApplicationSocket; the IRP is the test driver's pended kPend.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <mutex>
#include <thread>

#include <openwfp_km_ext.h>

#include "openwfp/device.h"
#include "openwfp/host.h"
#include "support/attached_descriptor_check.h"
#include "support/device_test_driver.h"
#include "support/wfp_harness.h"

using namespace wfptest;
using openwfp::verifier::Code;

namespace {

constexpr UINT32 kDst = 0x0A000001;
const GUID kCR4 = FWPM_LAYER_ALE_CONNECT_REDIRECT_V4;

class PipeSocket final : public openwfp::ApplicationSocket {
 public:
  explicit PipeSocket(int fd) : fd_(fd) {}
  ~PipeSocket() override { ::close(fd_); }
  int duplicate() const override { return ::fcntl(fd_, F_DUPFD_CLOEXEC, 0); }

 private:
  int fd_;
};

class AttachApplicationSocket : public Harness {
 protected:
  void SetUp() override {
    unsetenv("OPENWFP_SOCKET");  // the device in this process
    Harness::SetUp();
    devtest::clearEvents();
    ASSERT_TRUE(host_.load(devtest::testDriverEntry(), "testdev"));
    // A callout that pends every connect and keeps its classify handle.
    addCalloutFilter(guid(1), kCR4, [this](auto, auto, const void* ctx, const FWPS_FILTER3* f, FWPS_CLASSIFY_OUT0* out) {
      UINT64 h = 0;
      ASSERT_EQ(FwpsAcquireClassifyHandle0(const_cast<void*>(ctx), 0, &h), STATUS_SUCCESS);
      ASSERT_EQ(FwpsPendClassify0(h, f->filterId, 0, out), STATUS_SUCCESS);
      std::lock_guard lock(mu_);
      handles_.push_back(h);
      out->actionType = FWP_ACTION_BLOCK;
      out->rights &= ~FWPS_RIGHT_ACTION_WRITE;
    });
  }
  void TearDown() override {
    host_.unloadAll();
    Harness::TearDown();
  }
  UINT64 lastHandle() {
    std::lock_guard lock(mu_);
    return handles_.empty() ? 0 : handles_.back();
  }
  void completePermit(UINT64 h) {
    FWPS_CLASSIFY_OUT0 o{};
    o.actionType = FWP_ACTION_PERMIT;
    FwpsCompleteClassify0(h, 0, &o);
    FwpsReleaseClassifyHandle0(h);
  }
  // Sends kPend on a thread; once pended, attach(irp) runs and the IRP completes with `status`.
  // Returns what that thread took with the reply (openwfp_device_take_descriptor).
  int pendAttachComplete(const std::function<NTSTATUS(PIRP)>& attach, NTSTATUS status, NTSTATUS* attached) {
    int h = openwfp_device_open(devtest::kPath);
    EXPECT_GE(h, 0);
    int taken = -1;
    std::thread t([&taken, h] {
      uint64_t v = 0;
      size_t returned = 0;
      (void)openwfp_device_ioctl(h, devtest::kPend, nullptr, 0, &v, sizeof v, &returned);
      taken = openwfp_device_take_descriptor();
    });
    EXPECT_TRUE(devtest::waitForPended(1)) << "the IOCTL was not pended within 3 s";
    void* irp = devtest::takeOldestPended();
    *attached = irp != nullptr ? attach(static_cast<PIRP>(irp)) : STATUS_UNSUCCESSFUL;
    if (irp != nullptr) {
      devtest::completeTaken(irp, status);
    } else {
      openwfp_device_close(h);  // CLEANUP cancels whatever was pended late: the thread ends
      h = -1;
    }
    t.join();
    if (h >= 0) openwfp_device_close(h);
    return taken;
  }

  openwfp::host::DriverHost host_;
  std::mutex mu_;
  std::vector<UINT64> handles_;
};

}  // namespace

TEST_F(AttachApplicationSocket, S10_2_TheRequesterGetsTheApplicationsSocketOfThePendedClassify) {
  int p[2];
  ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
  auto req = request(kDst, 80);
  req.socket = std::make_shared<PipeSocket>(p[1]);
  Pending result;
  rt().classifier().classify(openwfp::StackHook::Connect, req, result.callback());
  req.socket.reset();  // the classify holds it now
  const UINT64 handle = lastHandle();
  ASSERT_NE(handle, 0u);

  NTSTATUS st = 0;
  const int fd = pendAttachComplete([&](PIRP irp) { return OpenwfpIrpAttachApplicationSocket(irp, handle); },
                                    STATUS_SUCCESS, &st);
  EXPECT_EQ(st, STATUS_SUCCESS);
  ASSERT_GE(fd, 0) << "the reply carried no descriptor";
  ASSERT_EQ(::write(fd, "y", 1), 1);
  EXPECT_EQ(devtest::readWithin5s(p[0]), 'y') << "not the application's socket";
  ::close(fd);

  // A failed request does not deliver it.
  const int none = pendAttachComplete([&](PIRP irp) { return OpenwfpIrpAttachApplicationSocket(irp, handle); },
                                      STATUS_UNSUCCESSFUL, &st);
  EXPECT_EQ(st, STATUS_SUCCESS);
  EXPECT_EQ(none, -1);
  EXPECT_EQ(OpenwfpIrpAttachApplicationSocket(nullptr, handle), STATUS_INVALID_PARAMETER);

  completePermit(handle);
  ASSERT_TRUE(result.wait());
  EXPECT_EQ(result.verdict->action, openwfp::Action::Permit);
  // Once the classify is over the stack's socket goes with it: no copy is left open.
  EXPECT_EQ(devtest::readWithin5s(p[0]), -1) << "a duplicate of the application's socket outlived the classify";
  ::close(p[0]);
}

TEST_F(AttachApplicationSocket, S10_2_WithoutASocketOrWithAStaleHandleNothingIsAttached) {
  // The simulated stack and bind: no ApplicationSocket -> STATUS_NOT_SUPPORTED.
  Pending result;
  rt().classifier().classify(openwfp::StackHook::Connect, request(kDst, 81), result.callback());
  const UINT64 handle = lastHandle();
  ASSERT_NE(handle, 0u);
  NTSTATUS st = 0;
  EXPECT_EQ(pendAttachComplete([&](PIRP irp) { return OpenwfpIrpAttachApplicationSocket(irp, handle); },
                               STATUS_SUCCESS, &st),
            -1);
  EXPECT_EQ(st, STATUS_NOT_SUPPORTED);
  completePermit(handle);
  ASSERT_TRUE(result.wait());

  // A released handle: STATUS_INVALID_HANDLE, reported as a use after release.
  EXPECT_EQ(pendAttachComplete([&](PIRP irp) { return OpenwfpIrpAttachApplicationSocket(irp, handle); },
                               STATUS_SUCCESS, &st),
            -1);
  EXPECT_EQ(st, STATUS_INVALID_HANDLE);
  EXPECT_EQ(take(Code::UseAfterRelease), 1u);
}
