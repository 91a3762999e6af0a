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
  // Layout constants (docs/records-format.md).
  static constexpr uint16_t kVersion = 1;
  static constexpr size_t kHeaderSize = 24;  // magic, version, count, instance id, history id
  static constexpr size_t kEntrySize = 50;   // handle, target PID, two endpoints
  static constexpr size_t kMacSize = 32;     // HMAC-SHA512-256 over everything before it
  static constexpr size_t kMaxEntries = 8;   // openwfp choice: longer histories are not sealed
  static constexpr size_t sizeFor(size_t entries) {
    return kHeaderSize + entries * kEntrySize + kMacSize;
  }

  RecordsSealer();  // fresh random key and instance id (libsodium)
  ~RecordsSealer();  // wipes the key
  RecordsSealer(const RecordsSealer&) = delete;
  RecordsSealer& operator=(const RecordsSealer&) = delete;

  uint64_t instanceId() const { return instance_; }

  // Registers a history so that records naming it resolve to the live object (weakly held).
  void track(const std::shared_ptr<History>& history);

  // Bytes seal() writes for the history as it is now; 0 when it has more than kMaxEntries
  // entries (such a history cannot be sealed: report an error instead of records).
  size_t sealedSize(const History& history) const;
  // Writes exactly sealedSize() bytes into out (out.size() must be >= that); returns bytes.
  // Takes one snapshot of the history; returns 0 and writes nothing when that snapshot does not
  // fit in out (the history grew since sealedSize()) or has more than kMaxEntries entries.
  // Deterministic: an unchanged history seals to identical bytes.
  size_t seal(const History& history, std::span<uint8_t> out) const;
  std::vector<uint8_t> seal(const History& history) const;  // empty when it cannot be sealed

  // Verifies and opens records. On success returns the live History when it is still tracked,
  // otherwise a detached History rebuilt from the snapshot (entries without contexts).
  std::shared_ptr<History> open(std::span<const uint8_t> blob, OpenError* error = nullptr) const;

  // Test and fuzzing hook: recomputes the MAC (last kMacSize bytes) of blob under this sealer's
  // key, so tests can build well-MACed blobs with a wrong version or malformed fields.
  void resealForTesting(std::span<uint8_t> blob) const;

 private:
  struct MacState;  // HMAC state with the key already absorbed (libsodium type, kept out of here)
  void mac(std::span<const uint8_t> body, uint8_t* out) const;

  std::array<uint8_t, 32> key_{};
  uint64_t instance_ = 0;
  std::unique_ptr<MacState> macState_;  // immutable after construction
  mutable std::mutex mu_;  // guards live_ and sweepAt_
  mutable std::unordered_map<uint64_t, std::weak_ptr<History>> live_;
  mutable size_t sweepAt_ = 64;  // drop expired live_ entries when the map reaches this size
};

}  // namespace openwfp::redirect
