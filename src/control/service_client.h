// control/service_client.h - the client end of service calls (frame type 5): one connection to
// a control server (the engine service's socket), request/reply in order, at most one
// descriptor per call. Used by the CLI's engine commands (src/host) and the fwpmu.h functions
// (src/um). Not thread-safe: one caller at a time (calls are serialized by a mutex).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>

#include "net/unique_fd.h"
#include "openwfp/control.h"

namespace openwfp::control {

class ServiceClient {
 public:
  // Connects to the server at path. nullptr and one line in error when nothing serves there:
  // "no openwfp engine at PATH (start one with `openwfp engine`)" or the connect error.
  static std::unique_ptr<ServiceClient> connect(const std::string& path, std::string& error);

  // One call; at most one descriptor in fds (sent with the frame). nullopt when the connection
  // broke or the server answered with an Error frame (errno says: EIO, EOPNOTSUPP, EINVAL).
  std::optional<ServiceResult> call(uint32_t service, uint32_t op, std::span<const uint8_t> payload,
                                    std::span<const int> fds = {});

  int fd() const { return sock_.get(); }
  int serverPid() const { return serverPid_; }  // SO_PEERCRED of the connection
  const std::string& path() const { return path_; }

 private:
  ServiceClient() = default;
  net::UniqueFd sock_;
  int serverPid_ = 0;
  std::string path_;
  uint64_t nextRequest_ = 1;
  std::mutex mu_;
};

}  // namespace openwfp::control
