// winsock/socket_registry.h - the process-wide list of socket backends (socket_backend.h) that
// openwfp_ioctl / WSAIoctl consult: the first backend that owns an fd handles its control call,
// else the OS-socket fallback (os_socket_backend.cpp).
//
// Thread safety: backends are called concurrently from any thread; each backend guards its own
// state. The registry keeps a backend alive (shared_ptr) for the duration of a call, so a
// backend may be removed while another thread is inside it.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "winsock/socket_backend.h"

namespace openwfp::winsock {

// The process-wide list of backends.
class SocketRegistry {
 public:
  static SocketRegistry& instance();

  // Keeps backend registered until the returned token is destroyed.
  class Registration {
   public:
    Registration() = default;
    Registration(Registration&& other) noexcept;
    Registration& operator=(Registration&& other) noexcept;
    ~Registration();
    void reset();

   private:
    friend class SocketRegistry;
    Registration(SocketRegistry* registry, SocketBackend* backend)
        : registry_(registry), backend_(backend) {}
    SocketRegistry* registry_ = nullptr;
    SocketBackend* backend_ = nullptr;
  };

  [[nodiscard]] Registration add(std::shared_ptr<SocketBackend> backend);
  // The first registered backend that owns fd, else the OS-socket fallback (never null).
  std::shared_ptr<SocketBackend> find(int fd) const;

 private:
  void remove(SocketBackend* backend);
  mutable std::mutex mu_;  // guards backends_
  std::vector<std::shared_ptr<SocketBackend>> backends_;
};

// The fallback backend for plain OS sockets (src/winsock/os_socket_backend.cpp).
std::shared_ptr<SocketBackend> osSocketBackend();

}  // namespace openwfp::winsock
