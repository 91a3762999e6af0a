/*
 * openwfp/device.h - a user-mode program talking to a callout driver's device object, as a
 * Windows program does with CreateFile / DeviceIoControl / CloseHandle on \\.\Name.
 *
 *   int h = openwfp_device_open("\\\\.\\OpenwfpVerifyProxy");       CreateFile
 *   openwfp_device_ioctl(h, IOCTL_X, &in, sizeof in, &out, sizeof out, &n); DeviceIoControl
 *   openwfp_device_close(h);                                         CloseHandle
 *
 * The driver receives IRP_MJ_CREATE, IRP_MJ_DEVICE_CONTROL, IRP_MJ_CLEANUP and IRP_MJ_CLOSE in
 * its DriverObject->MajorFunction routines, with PsGetCurrentProcessId() = the PID of the calling
 * process. An IOCTL blocks until the driver completes the IRP (IoCompleteRequest), which may
 * happen much later from another thread (a pended "inverted call"); other threads may use the
 * same handle meanwhile.
 *
 * Where the driver runs:
 *   - OPENWFP_SOCKET set in the environment (a process started by `openwfp run`, or a proxy
 *     given that path): the driver runs in the engine process; requests travel over the control
 *     channel (docs/control-channel.md) and the engine identifies the caller by the kernel's
 *     credentials of the socket (never by a PID the caller claims). Handles of a process are
 *     closed (CLEANUP, CLOSE) when it exits or its connection breaks.
 *   - otherwise: the driver is loaded in this process (openwfp/host.h) and is called directly.
 *
 * Errors: -1 with errno, and openwfp_device_last_status() gives the NTSTATUS of the calling
 * thread's last call (0 after a success). errno mapping: OBJECT_NAME_NOT_FOUND -> ENOENT,
 * OBJECT_NAME_INVALID / INVALID_PARAMETER -> EINVAL, ACCESS_DENIED -> EACCES,
 * INVALID_DEVICE_REQUEST -> ENOTTY, BUFFER_TOO_SMALL -> ENOBUFS, BUFFER_OVERFLOW -> EMSGSIZE
 * (the bytes the driver returned are copied and *returned is set), CANCELLED -> ECANCELED,
 * INVALID_HANDLE -> EBADF, DELETE_PENDING (device deleted, driver unloaded) -> ENODEV,
 * NOT_FOUND -> ENOENT, control channel unusable -> EIO; see src/km/device_io.h for all.
 *
 * Handles are small positive ints, not file descriptors (openwfp choice); they are not
 * inherited by a forked child. Buffers are at most 1 MiB each. C11 and C++ compatible.
 */
#ifndef OPENWFP_DEVICE_H
#define OPENWFP_DEVICE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Opens the device behind path ("\\\\.\\Name": the symbolic link \DosDevices\Name or \??\Name
 * a driver created; "\\\\.\\GLOBALROOT\\Device\\X" names a device object directly). Returns a
 * handle, or -1 with errno. */
int openwfp_device_open(const char* path);

/* Sends IRP_MJ_DEVICE_CONTROL with code and waits for its completion. in/in_len is copied to the
 * driver's system buffer; up to out_len bytes of output come back in out, their count in
 * *returned (may be NULL). Returns 0, or -1 with errno. */
int openwfp_device_ioctl(int handle, uint32_t code, const void* in, size_t in_len, void* out,
                         size_t out_len, size_t* returned);

/* Sends IRP_MJ_CLEANUP (waited for), then IRP_MJ_CLOSE, and frees the handle. Returns 0 for an
 * open handle whatever the driver's CLEANUP returned (as CloseHandle; that status is in
 * openwfp_device_last_status()), -1 with EBADF for an unknown handle, EIO when the control
 * channel failed (the engine closes the handle itself when the connection breaks). */
int openwfp_device_close(int handle);

/* NTSTATUS of the calling thread's last openwfp_device_* call (as a signed 32-bit value). */
int32_t openwfp_device_last_status(void);

/* The descriptor the driver attached to the reply of the calling thread's last
 * openwfp_device_ioctl (OpenwfpIrpAttachApplicationSocket of openwfp/km/openwfp_km_ext.h: the
 * application's own socket of a pended connect), now owned by the caller (close it); -1 when
 * that reply carried none or it was taken already. An untaken descriptor is closed by the
 * thread's next openwfp_device_ioctl, or when the thread ends. openwfp extension. */
int openwfp_device_take_descriptor(void);

#ifdef __cplusplus
}

namespace openwfp::device {
/* In-process only, with an explicit requestor PID (what the driver sees as
 * PsGetCurrentProcessId()): for tests that play several processes in one. Same results as the C
 * functions; the handle is bound to requestorPid for CLEANUP/CLOSE. */
int open(const char* path, uint64_t requestorPid);
int ioctl(int handle, uint32_t code, const void* in, size_t inLen, void* out, size_t outLen,
          size_t* returned, uint64_t requestorPid);
int close(int handle, uint64_t requestorPid);
}  // namespace openwfp::device
#endif

#endif /* OPENWFP_DEVICE_H */
