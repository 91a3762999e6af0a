// um/service_shim.h - the service-frame types of openwfp/control.h that the lead's transport
// commit adds (kServiceManagement, ServiceRequest, ServiceResult), declared here with the agreed
// shape until that commit is merged; then this file goes and openwfp/control.h is included.
#pragma once

#include <cstdint>
#include <vector>

namespace openwfp::control {

inline constexpr uint32_t kServiceManagement = 1;
inline constexpr uint32_t kServiceEngine = 2;

struct ServiceRequest {
  uint64_t connection = 0;
  int pid = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t service = 0, op = 0;
  std::vector<uint8_t> payload;
  std::vector<int> fds;
};

struct ServiceResult {
  int32_t status = 0;
  std::vector<uint8_t> payload;
};

}  // namespace openwfp::control
