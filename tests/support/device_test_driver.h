// tests/support/device_test_driver.h - an in-process test driver with a named device, for the device I/O
// tests (in-process and over the control channel). No WDK header here, so socket tests can use
// it too; the driver itself is in device_test_driver.cpp.
//
// "testdev": \Device\OwfpTestDev, link \DosDevices\OwfpTestDev (user path \\.\OwfpTestDev).
//   CREATE gives each file object an id (FsContext); CLEANUP cancels the file's pended IRPs;
//   every IRP is recorded (major function, PsGetCurrentProcessId(), file id).
//   IOCTLs (FILE_DEVICE_UNKNOWN, function 0x900 + n):
//     kEcho         output = input (BUFFER_TOO_SMALL when the output is shorter)
//     kWhoAmI       output = WhoAmI
//     kPend         pended (IoMarkIrpPending) until releaseAll(); needs 8 output bytes
//     kRelease      completes every pended IRP with its 8-byte input as output
//     kOverflow     "part" + STATUS_BUFFER_OVERFLOW
//     kBadInformation / kNoComplete / kPendNoMark / kReleaseTwice: IRP misuse for the verifier
//     kEchoNeither  METHOD_NEITHER echo (checks Type3InputBuffer == UserBuffer == SystemBuffer)
//     kPendCancelable  pended with a cancel routine (IoSetCancelRoutine) that completes it with
//                   STATUS_CANCELLED and records a kCancelRoutine event; CLEANUP completes the
//                   file's cancelable IRPs whose routine it can still take back
//     kAttach       attaches the write end of a new pipe to the IRP (km::device::attachDescriptor,
//                   what OpenwfpIrpAttachApplicationSocket does) and completes it: STATUS_SUCCESS,
//                   or STATUS_UNSUCCESSFUL when the first input byte is 1; the read end is
//                   takeAttachedReadEnd()'s
//   anything else: STATUS_INVALID_DEVICE_REQUEST.
// "baredev": \Device\OwfpBareDev, link \??\OwfpBareDev, exclusive, DEVICE_CONTROL routine NULL,
//   no CLEANUP routine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

struct _DRIVER_OBJECT;
struct _UNICODE_STRING;

namespace devtest {

constexpr uint32_t ctl(uint32_t n, uint32_t method) { return (0x22u << 16) | ((0x900u + n) << 2) | method; }
constexpr uint32_t kEcho = ctl(0, 0);
constexpr uint32_t kWhoAmI = ctl(1, 0);
constexpr uint32_t kPend = ctl(2, 0);
constexpr uint32_t kRelease = ctl(3, 0);
constexpr uint32_t kOverflow = ctl(4, 0);
constexpr uint32_t kBadInformation = ctl(5, 0);
constexpr uint32_t kNoComplete = ctl(6, 0);
constexpr uint32_t kPendNoMark = ctl(7, 0);
constexpr uint32_t kEchoNeither = ctl(8, 3);
constexpr uint32_t kReleaseTwice = ctl(9, 0);
constexpr uint32_t kPendCancelable = ctl(10, 0);
constexpr uint32_t kAttach = ctl(11, 0);

constexpr uint8_t kMjCreate = 0x00;
constexpr uint8_t kMjClose = 0x02;
constexpr uint8_t kMjDeviceControl = 0x0e;
constexpr uint8_t kMjCleanup = 0x12;
constexpr uint8_t kCancelRoutine = 0xFF;  // event recorded when the driver's cancel routine runs

constexpr const char* kPath = "\\\\.\\OwfpTestDev";
constexpr const char* kBarePath = "\\\\.\\OwfpBareDev";

struct WhoAmI {
  uint64_t currentPid;    // PsGetCurrentProcessId()
  uint64_t requestorPid;  // IoGetRequestorProcessId()
  uint64_t fileId;        // FsContext set at CREATE
  uint32_t irql;
  uint32_t driverNamed;   // verifier::currentDriver() == "testdev"
};

struct Event {
  uint8_t major;
  uint64_t pid;
  uint64_t fileId;
};

using EntryFn = int32_t (*)(struct _DRIVER_OBJECT*, struct _UNICODE_STRING*);
EntryFn testDriverEntry();
EntryFn bareDriverEntry();
// "securedev": \Device\OwfpSecureDev, link \DosDevices\OwfpSecureDev (kSecurePath), created with
// IoCreateDeviceSecure(sddl); CREATE and CLOSE succeed, DEVICE_CONTROL is NULL (reached:
// STATUS_INVALID_DEVICE_REQUEST). Load one at a time.
EntryFn secureDriverEntry(const wchar_t* sddl);
constexpr const char* kSecurePath = "\\\\.\\OwfpSecureDev";

std::vector<Event> events();
void clearEvents();
size_t count(uint8_t major);
// Waits up to ms for count(major) >= n.
bool waitForCount(uint8_t major, size_t n, int ms = 3000);

size_t pendedCount();
size_t cancelablePendedCount();
bool waitForPended(size_t n, int ms = 3000);
void releaseAll(uint64_t value);
// Removes the oldest pended IRP from the driver's list (so CLEANUP does not see it) and returns
// it; completeTaken completes it later.
void* takeOldestPended();
void completeTaken(void* irp, int32_t status);
// The read end of the pipe the last kAttach attached the write end of (-1: none); the caller
// owns it.
int takeAttachedReadEnd();

}  // namespace devtest
