// winsock/ioctl.cpp - the C entry points of include/openwfp/winsock.h: openwfp_ioctl and the
// Winsock shim (WSAIoctl, WSAGetLastError, WSASetLastError). No exception leaves this file.
#include <cerrno>
#include <limits>

#include "openwfp/winsock.h"
#include "winsock/socket_registry.h"

namespace {

thread_local int t_lastWsaError = 0;

int toWsaError(int err) {
  switch (err) {
    case ENOBUFS:
      return static_cast<int>(ERROR_INSUFFICIENT_BUFFER);
    case ENOENT:
      return OPENWFP_WSA_NOT_FOUND;
    case ENOTCONN:
      return WSAENOTCONN;
    case EACCES:
      return WSAEACCES;
    case ENOTSOCK:
    case EBADF:
      return WSAENOTSOCK;
    case EISCONN:
      return WSAEISCONN;
    case EINVAL:
      return WSAEINVAL;
    case EFAULT:
      return WSAEFAULT;
    case EOPNOTSUPP:
      return WSAEOPNOTSUPP;
    case EMSGSIZE:
      return WSAEMSGSIZE;
    case ENOMEM:
      return WSAENOBUFS;
    default:
      return WSAEINVAL;
  }
}

int runControl(int fd, const openwfp::winsock::ControlCall& call) {
  try {
    auto backend = openwfp::winsock::SocketRegistry::instance().find(fd);
    return backend->control(fd, call);
  } catch (...) {
    return ENOMEM;
  }
}

}  // namespace

extern "C" int openwfp_ioctl(int fd, unsigned code, const void* in, size_t in_len, void* out,
                             size_t out_len, size_t* returned) {
  if (returned != nullptr) *returned = 0;
  if (fd < 0) {
    errno = EBADF;
    return -1;
  }
  openwfp::winsock::ControlCall call;
  call.code = code;
  call.in = in;
  call.inLen = in_len;
  call.out = out;
  call.outLen = out == nullptr ? 0 : out_len;
  call.returned = returned;
  // SIO_SET takes no output: a nonzero length is an error even with a NULL buffer (S9.4).
  if (code == SIO_SET_WFP_CONNECTION_REDIRECT_RECORDS || code == SIO_OPENWFP_HAND_OFF_WITH_RECORDS) call.outLen = out_len;
  const int err = runControl(fd, call);
  if (err != 0) {
    errno = err;
    return -1;
  }
  return 0;
}

extern "C" int WSAIoctl(SOCKET s, DWORD dwIoControlCode, LPVOID lpvInBuffer, DWORD cbInBuffer,
                        LPVOID lpvOutBuffer, DWORD cbOutBuffer, LPDWORD lpcbBytesReturned,
                        LPWSAOVERLAPPED lpOverlapped,
                        LPWSAOVERLAPPED_COMPLETION_ROUTINE lpCompletionRoutine) {
  (void)lpOverlapped;  // completes synchronously either way
  if (lpCompletionRoutine != nullptr) {
    t_lastWsaError = WSAEOPNOTSUPP;
    return SOCKET_ERROR;
  }
  if (lpcbBytesReturned == nullptr) {
    t_lastWsaError = WSAEFAULT;
    return SOCKET_ERROR;
  }
  *lpcbBytesReturned = 0;
  if (s < 0) {
    t_lastWsaError = WSAENOTSOCK;
    return SOCKET_ERROR;
  }
  size_t returned = 0;
  const int savedErrno = errno;
  const int rc = openwfp_ioctl(s, dwIoControlCode, lpvInBuffer, cbInBuffer, lpvOutBuffer,
                               cbOutBuffer, &returned);
  const int err = errno;
  errno = savedErrno;
  *lpcbBytesReturned = returned > std::numeric_limits<DWORD>::max()
                           ? std::numeric_limits<DWORD>::max()
                           : static_cast<DWORD>(returned);
  if (rc != 0) {
    t_lastWsaError = toWsaError(err);
    return SOCKET_ERROR;
  }
  return 0;
}

extern "C" int WSAGetLastError(void) { return t_lastWsaError; }

extern "C" void WSASetLastError(int iError) { t_lastWsaError = iError; }
