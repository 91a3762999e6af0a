// kapi/openwfp_ext.cpp - the openwfp extension functions of openwfp/km/openwfp_km_ext.h.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "kapi/abi.h"
#include "km/device_io.h"

using namespace openwfp;
using namespace openwfp::kapi;

extern "C" NTSTATUS OpenwfpIrpAttachApplicationSocket(PIRP irp, UINT64 classifyHandle) {
  OPENWFP_KAPI_GUARD_BEGIN
  if (irp == nullptr) return STATUS_INVALID_PARAMETER;
  std::shared_ptr<engine::Classify> classify = eng().classifyForHandle(classifyHandle, "OpenwfpIrpAttachApplicationSocket");
  if (!classify) return STATUS_INVALID_HANDLE;
  const std::shared_ptr<const ApplicationSocket>& socket = classify->applicationSocket();
  if (!socket) return STATUS_NOT_SUPPORTED;
  const int fd = socket->duplicate();
  if (fd < 0) return errno == ENOMEM || errno == EMFILE || errno == ENFILE ? STATUS_INSUFFICIENT_RESOURCES
                                                                          : STATUS_NOT_SUPPORTED;
  km::device::Descriptor d = km::device::adoptDescriptor(fd);
  if (!km::device::attachDescriptor(irp, std::move(d))) return STATUS_INVALID_PARAMETER;
  return STATUS_SUCCESS;
  OPENWFP_KAPI_GUARD_END(STATUS_UNSUCCESSFUL)
}
