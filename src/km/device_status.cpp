// km/device_status.cpp - the errno a requester sees for an NTSTATUS, the major function names,
// descriptors handed with a reply (km/device_io.h).
#include <unistd.h>
#include <wdm.h>

#include <cerrno>
#include <cstdint>

#include "km/device_io.h"

namespace openwfp::km::device {

const char* majorFunctionName(unsigned major) {
  switch (major) {
    case IRP_MJ_CREATE:
      return "IRP_MJ_CREATE";
    case IRP_MJ_CLOSE:
      return "IRP_MJ_CLOSE";
    case IRP_MJ_CLEANUP:
      return "IRP_MJ_CLEANUP";
    case IRP_MJ_DEVICE_CONTROL:
      return "IRP_MJ_DEVICE_CONTROL";
    default:
      return "IRP_MJ_?";
  }
}

Descriptor adoptDescriptor(int fd) {
  try {
    return Descriptor(new int(fd), [](int* p) {
      if (*p >= 0) ::close(*p);
      delete p;
    });
  } catch (...) {  // out of memory: not kept, so closed
    if (fd >= 0) ::close(fd);
    throw;
  }
}

int errnoFromStatus(int32_t status) {
  if (NT_SUCCESS(status)) return 0;
  switch (static_cast<uint32_t>(status)) {
    case 0xC0000023u:  // STATUS_BUFFER_TOO_SMALL
      return ENOBUFS;
    case 0x80000005u:  // STATUS_BUFFER_OVERFLOW
      return EMSGSIZE;
    case 0xC0000010u:  // STATUS_INVALID_DEVICE_REQUEST
    case 0xC0000002u:  // STATUS_NOT_IMPLEMENTED
      return ENOTTY;
    case 0xC000000Du:  // STATUS_INVALID_PARAMETER
    case 0xC00000EFu:
    case 0xC00000F0u:
    case 0xC00000F1u:
    case 0xC00000F2u:
    case 0xC0000206u:  // STATUS_INVALID_BUFFER_SIZE
    case 0xC0000033u:  // STATUS_OBJECT_NAME_INVALID
      return EINVAL;
    case 0xC0000034u:  // STATUS_OBJECT_NAME_NOT_FOUND
    case 0xC000003Au:  // STATUS_OBJECT_PATH_NOT_FOUND
    case 0xC0000225u:  // STATUS_NOT_FOUND
      return ENOENT;
    case 0xC0000022u:  // STATUS_ACCESS_DENIED
      return EACCES;
    case 0xC0000120u:  // STATUS_CANCELLED
      return ECANCELED;
    case 0xC000009Au:  // STATUS_INSUFFICIENT_RESOURCES
    case 0xC0000017u:  // STATUS_NO_MEMORY
      return ENOMEM;
    case 0xC00000BBu:  // STATUS_NOT_SUPPORTED
      return EOPNOTSUPP;
    case 0x80000011u:  // STATUS_DEVICE_BUSY
      return EBUSY;
    case 0xC0000008u:  // STATUS_INVALID_HANDLE
      return EBADF;
    case 0xC0000056u:  // STATUS_DELETE_PENDING
      return ENODEV;
    case 0x00000102u:  // STATUS_TIMEOUT (success class, not reached)
    case 0xC00000B5u:  // STATUS_IO_TIMEOUT
      return ETIMEDOUT;
    case 0xC00000E8u:  // STATUS_INVALID_USER_BUFFER
    case 0xC0000005u:  // STATUS_ACCESS_VIOLATION
      return EFAULT;
    case 0xC0000035u:  // STATUS_OBJECT_NAME_COLLISION
      return EEXIST;
    case 0xC00000A3u:  // STATUS_DEVICE_NOT_READY
      return EAGAIN;
    default:
      return EIO;
  }
}

}  // namespace openwfp::km::device
