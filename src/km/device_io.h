// km/device_io.h - device I/O for callout drivers: what the I/O manager does on Windows when a
// user-mode program calls CreateFile / DeviceIoControl / CloseHandle on \\.\Name.
//
//   open(path)    resolves \\.\Name through the symbolic links the drivers created
//                 (\DosDevices\Name, \??\Name, \GLOBAL??\Name, \DosDevices\Global\Name) to a
//                 named device object (IoCreateDevice), creates a FILE_OBJECT and sends
//                 IRP_MJ_CREATE. "\\.\GLOBALROOT\Device\X" names a device directly.
//   ioctl(...)    sends IRP_MJ_DEVICE_CONTROL: one IRP with one IO_STACK_LOCATION and a system
//                 buffer of max(in, out) bytes holding the input (every transfer method is
//                 delivered as METHOD_BUFFERED: openwfp choice, see below). The result arrives
//                 when the driver calls IoCompleteRequest, in the dispatch routine or later
//                 from any thread (STATUS_PENDING).
//   close(file)   sends IRP_MJ_CLEANUP, then IRP_MJ_CLOSE once no IRP of the file is
//                 outstanding (as Windows sends CLOSE when the last reference to the file
//                 object goes); a CLOSE deferred that way runs on a work item.
//   closeAbandoned(file)  the requester is gone: IoCancelIrp on its outstanding IRPs, then close.
//
// Every dispatch routine runs at PASSIVE_LEVEL inside verifier::CurrentDriverScope(driver) and
// a RequestorScope: PsGetCurrentProcessId() and IoGetRequestorProcessId() return the PID of the
// process that sent the request. A major function the driver did not set (NULL) completes with
// STATUS_INVALID_DEVICE_REQUEST.
//
// Transfer methods (openwfp choice): the requester's buffers may live in another process (the
// control channel), so METHOD_IN_DIRECT / OUT_DIRECT / NEITHER are handled like METHOD_BUFFERED:
// AssociatedIrp.SystemBuffer holds the input and receives the output; for METHOD_NEITHER
// Parameters.DeviceIoControl.Type3InputBuffer and Irp->UserBuffer point at the system buffer as
// well; MdlAddress is NULL. The bytes returned are min(IoStatus.Information, output length)
// of the system buffer, none when the status is an error (NT_ERROR), as on Windows.
//
// Verifier reports (KernelApiMisuse): dispatch returned STATUS_PENDING without IoMarkIrpPending;
// dispatch returned another status without completing the IRP (openwfp completes it with that
// status so the requester does not hang); IoCompleteRequest on an IRP that is not outstanding
// (completed twice); Information larger than the output buffer; IRPs still pending when the
// driver unloads (listed as leaks; their requesters get STATUS_CANCELLED).
//
// This header includes no WDK header (callers are Linux code: the control server).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "km/sddl.h"

struct _DRIVER_OBJECT;
struct _DEVICE_OBJECT;

namespace openwfp::km {

// ---- Requestor PID -------------------------------------------------------------------------
// The PID PsGetCurrentProcessId() returns on this thread: the requestor's while a dispatch
// routine runs, getpid() otherwise.
uint64_t currentRequestorPid();  // 0 outside a RequestorScope
class RequestorScope {
 public:
  explicit RequestorScope(uint64_t pid);
  ~RequestorScope();
  RequestorScope(const RequestorScope&) = delete;
  RequestorScope& operator=(const RequestorScope&) = delete;

 private:
  uint64_t previous_;
};

namespace device {

// NTSTATUS values used by callers of this header (the WDK names are in ntstatus.h).
inline constexpr int32_t kStatusSuccess = 0;
inline constexpr int32_t kStatusUnsuccessful = static_cast<int32_t>(0xC0000001u);
inline constexpr int32_t kStatusBufferOverflow = static_cast<int32_t>(0x80000005u);
inline constexpr int32_t kStatusInvalidHandle = static_cast<int32_t>(0xC0000008u);
inline constexpr int32_t kStatusInvalidParameter = static_cast<int32_t>(0xC000000Du);
inline constexpr int32_t kStatusInvalidDeviceRequest = static_cast<int32_t>(0xC0000010u);
inline constexpr int32_t kStatusAccessDenied = static_cast<int32_t>(0xC0000022u);
inline constexpr int32_t kStatusObjectNameInvalid = static_cast<int32_t>(0xC0000033u);
inline constexpr int32_t kStatusObjectNameNotFound = static_cast<int32_t>(0xC0000034u);
inline constexpr int32_t kStatusDeletePending = static_cast<int32_t>(0xC0000056u);
inline constexpr int32_t kStatusInsufficientResources = static_cast<int32_t>(0xC000009Au);
inline constexpr int32_t kStatusInvalidUserBuffer = static_cast<int32_t>(0xC00000E8u);
inline constexpr int32_t kStatusCancelled = static_cast<int32_t>(0xC0000120u);

// Largest input or output buffer of one request (openwfp choice; bounds the system buffer).
inline constexpr size_t kMaxBuffer = 1u << 20;

// errno for an NTSTATUS (0 for success and informational codes):
//   BUFFER_TOO_SMALL -> ENOBUFS, BUFFER_OVERFLOW -> EMSGSIZE, INVALID_DEVICE_REQUEST /
//   NOT_IMPLEMENTED -> ENOTTY, INVALID_PARAMETER(_n) / INVALID_BUFFER_SIZE /
//   OBJECT_NAME_INVALID -> EINVAL, OBJECT_NAME_NOT_FOUND / OBJECT_PATH_NOT_FOUND / NOT_FOUND ->
//   ENOENT, ACCESS_DENIED -> EACCES, CANCELLED -> ECANCELED, INSUFFICIENT_RESOURCES / NO_MEMORY
//   -> ENOMEM, NOT_SUPPORTED -> EOPNOTSUPP, DEVICE_BUSY -> EBUSY, INVALID_HANDLE -> EBADF,
//   DELETE_PENDING -> ENODEV, TIMEOUT / IO_TIMEOUT -> ETIMEDOUT, INVALID_USER_BUFFER /
//   ACCESS_VIOLATION -> EFAULT, OBJECT_NAME_COLLISION -> EEXIST, DEVICE_NOT_READY -> EAGAIN,
//   any other warning or error -> EIO.
int errnoFromStatus(int32_t status);
// "IRP_MJ_CREATE", "IRP_MJ_DEVICE_CONTROL", ... ("IRP_MJ_?" for the others).
const char* majorFunctionName(unsigned major);

// An open descriptor handed along with a request's result (openwfp extension, see
// attachDescriptor): closed when the last reference goes.
using Descriptor = std::shared_ptr<int>;  // *fd = -1 releases it
Descriptor adoptDescriptor(int fd);  // owns fd (>= 0) from now on

// The outcome of one IRP.
struct IoResult {
  int32_t status = 0;           // IoStatus.Status
  uint64_t information = 0;     // IoStatus.Information
  std::vector<uint8_t> output;  // DEVICE_CONTROL: the bytes for the requester's output buffer
  Descriptor descriptor;        // DEVICE_CONTROL, not NT_ERROR: what the driver attached, if any
};

// A driver gives the requester of an outstanding IRP_MJ_DEVICE_CONTROL a descriptor with the
// reply (OpenwfpIrpAttachApplicationSocket): it arrives with the result when the IRP completes
// with a status that is not an error, and is closed otherwise. A second attach replaces the
// first. False when irp is not an outstanding DEVICE_CONTROL IRP of the I/O manager.
bool attachDescriptor(const void* irp, Descriptor descriptor);
using IoDone = std::function<void(IoResult)>;

// An open handle's file object. Opaque; keep it in a shared_ptr.
class File;

// Sends IRP_MJ_CREATE for path (see the header comment) with requestorPid, waits for its
// completion and returns the file, or nullptr with status set: OBJECT_NAME_INVALID (not a
// \\.\ path), OBJECT_NAME_NOT_FOUND (no such link or device), DELETE_PENDING (device deleted),
// ACCESS_DENIED (an exclusive device already open, or the device's security descriptor grants
// the opener nothing: km/sddl.h), or what the driver completed CREATE with. The file keeps the
// rights granted; an ioctl whose CTL_CODE access bits (FILE_READ_ACCESS, FILE_WRITE_ACCESS) ask
// for more fails with ACCESS_DENIED before dispatch.
std::shared_ptr<File> open(const std::string& path, const security::Opener& opener, int32_t& status);
// The same for a caller in the engine process itself: the engine's uid, outside any tree.
std::shared_ptr<File> open(const std::string& path, uint64_t requestorPid, int32_t& status);

// Sends IRP_MJ_DEVICE_CONTROL; done is called exactly once, possibly before ioctl returns,
// possibly later from the thread that completes the IRP. Errors found before dispatch (closed
// handle: INVALID_HANDLE; device deleted or driver unloaded: DELETE_PENDING; a length above
// kMaxBuffer or in.size() != inLen: INVALID_PARAMETER) are reported through done as well.
void ioctl(const std::shared_ptr<File>& file, uint32_t code, std::span<const uint8_t> in,
           size_t outLen, uint64_t requestorPid, IoDone done);
// The same, waiting for completion.
IoResult ioctlSync(const std::shared_ptr<File>& file, uint32_t code, std::span<const uint8_t> in,
                   size_t outLen, uint64_t requestorPid);

// IRP_MJ_CLEANUP (waited for) then IRP_MJ_CLOSE (now, or when the last outstanding IRP of the
// file completes). Later calls on the file fail with INVALID_HANDLE. Returns the CLEANUP
// status; closing twice returns INVALID_HANDLE.
int32_t close(const std::shared_ptr<File>& file, uint64_t requestorPid);

// The requester went away without closing (its process exited, its control connection broke):
// as the I/O manager cancels the IRPs of a terminating thread before the handles are closed,
// every outstanding IRP of the file is cancelled with IoCancelIrp (a driver that set a cancel
// routine has it called and completes the IRP; an IRP without one stays with the driver, which
// sees Irp->Cancel), then close(file, requestorPid) sends CLEANUP and CLOSE. Returns close()'s
// result.
int32_t closeAbandoned(const std::shared_ptr<File>& file, uint64_t requestorPid);

// Diagnostics for tests: IRPs sent and not yet completed, for all drivers.
size_t outstandingIrps();
// Of those, the IRPs whose dispatch routine has returned STATUS_PENDING: the driver has queued
// them (an IRP counts in outstandingIrps() from the moment it is sent, before its dispatch runs).
size_t pendedIrps();

// The files open now (diagnostics: `openwfp show state`, `run --wait-for-device`): the path
// as opened, the opener, the device (an identity to compare, not a reference) and how many of
// the opener's IRPs to that device the driver has pended (a proxy waiting for work).
struct OpenFileInfo {
  std::string path;
  uint64_t openerPid = 0;
  const void* device = nullptr;
  size_t pendedIrps = 0;
};
std::vector<OpenFileInfo> openFiles();
// The device a \\.\Name path leads to now (as open() resolves it), or nullptr.
const void* deviceIdentity(const std::string& path);

// Called by releaseDriverResources (km/driver_objects.cpp) after DriverUnload: completes the
// driver's outstanding IRPs toward their requesters with STATUS_CANCELLED, detaches open files
// of its devices (later calls fail, no more IRPs are sent), and describes each such IRP for the
// leak report.
std::vector<std::string> releaseIrpsOf(const struct _DRIVER_OBJECT* driver);

}  // namespace device

// ---- Hooks implemented in km/driver_objects.cpp (device and link registry) ----------------------
// The live named device whose name, or the target of the symbolic link with that name (links
// are followed up to 4 times), equals ntName (case-insensitive), with a reference added
// (release with deviceRelease in km/internal.h); nullptr when there is none or it is
// deleted.
struct _DEVICE_OBJECT* referenceDeviceByName(const std::wstring& ntName);
// The rights device's security descriptor (IoCreateDeviceSecure; the default without one)
// grants opener; 0 when device is not a live device object.
uint32_t deviceAccessFor(const struct _DEVICE_OBJECT* device, const security::Opener& opener);
// False once IoDeleteDevice was called for device (or it was never a device object).
bool deviceIsLive(const struct _DEVICE_OBJECT* device);

}  // namespace openwfp::km
