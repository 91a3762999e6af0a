// redirect/records.h - sealed SIO-format redirect records (S8.7, S12.2; docs/records-format.md).
//
// The bytes FwpsQueryConnectionSioFormatRedirectRecords0 writes and SIO_QUERY returns, and that
// SIO_SET accepts. They name the connection's live History (by id, within this engine instance)
// and carry a snapshot of its entries, sealed with a MAC under a key private to the instance.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <unordered_map>
#include <vector>

#include "redirect/history.h"

namespace openwfp::redirect {

enum class OpenError { None, Truncated, BadMagic, BadVersion, BadMac, Malformed };
const char* toString(OpenError e);

class RecordsSealer {
 public:
  RecordsSealer();  // fresh random key and instance id (libsodium)

  // Registers a history so that records naming it resolve to the live object (weakly held).
  void track(const std::shared_ptr<History>& history);

  size_t sealedSize(const History& history) const;
  // Writes exactly sealedSize() bytes into out (out.size() must be >= that); returns bytes.
  size_t seal(const History& history, std::span<uint8_t> out) const;
  std::vector<uint8_t> seal(const History& history) const;

  // Verifies and opens records. On success returns the live History when it is still tracked,
  // otherwise a detached History rebuilt from the snapshot (entries without contexts).
  std::shared_ptr<History> open(std::span<const uint8_t> blob, OpenError* error = nullptr) const;

 private:
  std::array<uint8_t, 32> key_{};
  uint64_t instance_ = 0;
  mutable std::mutex mu_;  // guards live_
  mutable std::unordered_map<uint64_t, std::weak_ptr<History>> live_;
};

}  // namespace openwfp::redirect
