// control/device_api.cpp - the device API of openwfp/device.h: remote handles over the control
// channel (a proxy talking to a driver in the engine process), local handles straight into
// src/km/device_io (a driver in this process). gHandlesMu guards the handle table.
#include "control/client_connection.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <utility>
#include <spdlog/spdlog.h>
#include "km/device_io.h"
#include "openwfp/device.h"

namespace {

using openwfp::km::device::IoResult;
namespace kdev = openwfp::km::device;
namespace ctl = openwfp::control;

thread_local int32_t tlsLastStatus = 0;
// The last reply's descriptor (openwfp_device_take_descriptor); replaced by the next IOCTL.
thread_local std::shared_ptr<int> tlsDescriptor;

struct DeviceHandle {
  // Local: the file object in this process.
  std::shared_ptr<kdev::File> local;
  uint64_t localPid = 0;
  // Remote: the engine's handle on this process's connection.
  std::shared_ptr<openwfp::control::ControlClient> remote;
  uint32_t remoteHandle = 0;
};

std::mutex gHandlesMu;  // guards gHandles and gNextHandle
std::map<int, std::shared_ptr<DeviceHandle>> gHandles;
int gNextHandle = 1;

int failWith(int32_t status, int err) {
  tlsLastStatus = status;
  errno = err;
  return -1;
}

int addHandle(std::shared_ptr<DeviceHandle> h) {
  std::lock_guard lock(gHandlesMu);
  int id = gNextHandle;
  while (gHandles.count(id) != 0 || id <= 0) id = id <= 0 ? 1 : id + 1;
  gNextHandle = id + 1;
  gHandles.emplace(id, std::move(h));
  return id;
}

std::shared_ptr<DeviceHandle> findHandle(int handle) {
  std::lock_guard lock(gHandlesMu);
  auto it = gHandles.find(handle);
  return it == gHandles.end() ? nullptr : it->second;
}

int openLocal(const char* path, uint64_t pid) {
  int32_t status = 0;
  auto file = kdev::open(path, pid, status);
  if (!file) return failWith(status, kdev::errnoFromStatus(status));
  auto h = std::make_shared<DeviceHandle>();
  h->local = std::move(file);
  h->localPid = pid;
  tlsLastStatus = status;
  return addHandle(std::move(h));
}

int openRemote(const char* path) {
  if (std::strlen(path) > ctl::kMaxPath || path[0] == '\0') {
    return failWith(kdev::kStatusObjectNameInvalid, EINVAL);
  }
  ctl::Message reply;
  std::shared_ptr<openwfp::control::ControlClient> client;  // the connection the handle lives on
  if (openwfp::control::callFresh(ctl::DeviceOpenRequest{path}, -1, reply, &client) != 0) {
    return failWith(kdev::kStatusUnsuccessful, EIO);
  }
  auto* r = std::get_if<ctl::DeviceOpenReply>(&reply);
  if (r == nullptr) return failWith(kdev::kStatusUnsuccessful, EIO);
  if (r->status < 0) return failWith(r->status, kdev::errnoFromStatus(r->status));
  auto h = std::make_shared<DeviceHandle>();
  h->remote = std::move(client);
  h->remoteHandle = r->handle;
  tlsLastStatus = r->status;
  return addHandle(std::move(h));
}

// Copies a completed request's output and sets errno / the last status / the descriptor.
int deliver(int32_t status, const std::vector<uint8_t>& output, void* out, size_t outLen, size_t* returned,
            std::shared_ptr<int> descriptor) {
  tlsLastStatus = status;
  tlsDescriptor = std::move(descriptor);
  if (output.size() > outLen) return failWith(kdev::kStatusUnsuccessful, EIO);
  if ((static_cast<uint32_t>(status) >> 30) != 3) {  // not NT_ERROR: output is delivered
    if (!output.empty()) std::memcpy(out, output.data(), output.size());
    if (returned != nullptr) *returned = output.size();
  }
  const int err = kdev::errnoFromStatus(status);
  if (err != 0) {
    errno = err;
    return -1;
  }
  return 0;
}

int ioctlImpl(int handle, uint32_t code, const void* in, size_t inLen, void* out, size_t outLen, size_t* returned,
              std::optional<uint64_t> pid) {
  if (returned != nullptr) *returned = 0;
  tlsDescriptor.reset();
  auto h = findHandle(handle);
  if (!h) return failWith(kdev::kStatusInvalidHandle, EBADF);
  if ((in == nullptr && inLen != 0) || (out == nullptr && outLen != 0)) {
    return failWith(kdev::kStatusInvalidUserBuffer, EFAULT);
  }
  if (inLen > kdev::kMaxBuffer || outLen > kdev::kMaxBuffer) return failWith(kdev::kStatusInvalidParameter, EINVAL);
  std::span<const uint8_t> input(static_cast<const uint8_t*>(in), inLen);
  if (h->local) {
    IoResult r = kdev::ioctlSync(h->local, code, input, outLen, pid.value_or(static_cast<uint64_t>(::getpid())));
    return deliver(r.status, r.output, out, outLen, returned, std::move(r.descriptor));
  }
  if (h->remote->ownerPid() != ::getpid()) return failWith(kdev::kStatusInvalidHandle, EBADF);
  ctl::DeviceIoctlRequest req;
  req.handle = h->remoteHandle;
  req.code = code;
  req.outLen = static_cast<uint32_t>(outLen);
  req.in.assign(input.begin(), input.end());
  ctl::Message reply;
  if (h->remote->call(req, -1, reply) != 0) return failWith(kdev::kStatusUnsuccessful, EIO);
  auto* r = std::get_if<ctl::DeviceIoctlReply>(&reply);
  if (r == nullptr) return failWith(kdev::kStatusUnsuccessful, EIO);
  return deliver(r->status, r->out, out, outLen, returned, std::move(r->descriptor));
}

}  // namespace

int openwfp::control::deviceIoctlWhile(int handle, uint32_t code, const void* in, size_t inLen, void* out,
                                       size_t outLen, size_t* returned, const std::function<void()>& meanwhile,
                                       const ControlClient* sameAs) {
  if (returned != nullptr) *returned = 0;
  tlsDescriptor.reset();
  auto h = findHandle(handle);
  if (!h || !h->remote || (sameAs != nullptr && h->remote.get() != sameAs) || h->remote->ownerPid() != ::getpid()) {
    errno = EOPNOTSUPP;
    return -1;
  }
  if ((in == nullptr && inLen != 0) || (out == nullptr && outLen != 0)) {
    return failWith(kdev::kStatusInvalidUserBuffer, EFAULT);
  }
  if (inLen > kdev::kMaxBuffer || outLen > kdev::kMaxBuffer) return failWith(kdev::kStatusInvalidParameter, EINVAL);
  ctl::DeviceIoctlRequest req;
  req.handle = h->remoteHandle;
  req.code = code;
  req.outLen = static_cast<uint32_t>(outLen);
  req.in.assign(static_cast<const uint8_t*>(in), static_cast<const uint8_t*>(in) + inLen);
  uint64_t id = 0;
  const int posted = h->remote->post(req, -1, &id);
  if (posted == EOPNOTSUPP) {  // the process connection: no pipelining there
    errno = EOPNOTSUPP;
    return -1;
  }
  meanwhile();
  if (posted != 0) return failWith(kdev::kStatusUnsuccessful, EIO);
  ctl::Message reply;
  if (h->remote->collect(id, reply) != 0) return failWith(kdev::kStatusUnsuccessful, EIO);
  auto* r = std::get_if<ctl::DeviceIoctlReply>(&reply);
  if (r == nullptr) return failWith(kdev::kStatusUnsuccessful, EIO);
  return deliver(r->status, r->out, out, outLen, returned, std::move(r->descriptor));
}

int openwfp::control::deviceIoctlAfter(PostedControl& first, const std::function<void(int)>& firstDone, int handle,
                                       uint32_t code, const void* in, size_t inLen, void* out, size_t outLen,
                                       size_t* returned) {
  if (!first.client) {
    errno = EOPNOTSUPP;
    return -1;
  }
  // The engine answered `first` before it read this request: collected while this one waits.
  return deviceIoctlWhile(handle, code, in, inLen, out, outLen, returned,
                          [&] { firstDone(collectSocketControl(first)); }, first.client.get());
}

namespace {

int closeImpl(int handle, std::optional<uint64_t> pid) {
  std::shared_ptr<DeviceHandle> h;
  {
    std::lock_guard lock(gHandlesMu);
    auto it = gHandles.find(handle);
    if (it != gHandles.end()) {
      h = std::move(it->second);
      gHandles.erase(it);
    }
  }
  if (!h) return failWith(kdev::kStatusInvalidHandle, EBADF);
  int32_t status;
  if (h->local) {
    status = kdev::close(h->local, pid.value_or(h->localPid));
  } else {
    if (h->remote->ownerPid() != ::getpid()) return failWith(kdev::kStatusInvalidHandle, EBADF);
    ctl::Message reply;
    if (h->remote->call(ctl::DeviceCloseRequest{h->remoteHandle}, -1, reply) != 0) {
      return failWith(kdev::kStatusUnsuccessful, EIO);
    }
    auto* r = std::get_if<ctl::DeviceCloseReply>(&reply);
    if (r == nullptr) return failWith(kdev::kStatusUnsuccessful, EIO);
    status = r->status;
  }
  // As CloseHandle: the handle is closed whatever the driver's CLEANUP returned.
  tlsLastStatus = status;
  return 0;
}

}  // namespace

extern "C" int openwfp_device_open(const char* path) {
  try {
    if (path == nullptr) return failWith(kdev::kStatusInvalidParameter, EFAULT);
    if (!openwfp::control::controlSocketPath().empty()) return openRemote(path);
    return openLocal(path, static_cast<uint64_t>(::getpid()));
  } catch (...) {
    return failWith(kdev::kStatusInsufficientResources, ENOMEM);
  }
}

extern "C" int openwfp_device_ioctl(int handle, uint32_t code, const void* in, size_t in_len, void* out,
                                    size_t out_len, size_t* returned) {
  try {
    return ioctlImpl(handle, code, in, in_len, out, out_len, returned, std::nullopt);
  } catch (...) {
    return failWith(kdev::kStatusInsufficientResources, ENOMEM);
  }
}

extern "C" int openwfp_device_close(int handle) {
  try {
    return closeImpl(handle, std::nullopt);
  } catch (...) {
    return failWith(kdev::kStatusInsufficientResources, ENOMEM);
  }
}

extern "C" int32_t openwfp_device_last_status(void) { return tlsLastStatus; }

extern "C" int openwfp_device_take_descriptor(void) {
  std::shared_ptr<int> d = std::move(tlsDescriptor);
  if (!d || *d < 0) return -1;
  if (d.use_count() != 1) return ::fcntl(*d, F_DUPFD_CLOEXEC, 0);  // shared: the others keep theirs
  return std::exchange(*d, -1);  // released: the deleter closes nothing
}

namespace openwfp::device {

int open(const char* path, uint64_t requestorPid) {
  try {
    if (path == nullptr) return failWith(kdev::kStatusInvalidParameter, EFAULT);
    return openLocal(path, requestorPid);
  } catch (...) {
    return failWith(kdev::kStatusInsufficientResources, ENOMEM);
  }
}

int ioctl(int handle, uint32_t code, const void* in, size_t inLen, void* out, size_t outLen, size_t* returned,
          uint64_t requestorPid) {
  try {
    return ioctlImpl(handle, code, in, inLen, out, outLen, returned, requestorPid);
  } catch (...) {
    return failWith(kdev::kStatusInsufficientResources, ENOMEM);
  }
}

int close(int handle, uint64_t requestorPid) {
  try {
    return closeImpl(handle, requestorPid);
  } catch (...) {
    return failWith(kdev::kStatusInsufficientResources, ENOMEM);
  }
}

}  // namespace openwfp::device
