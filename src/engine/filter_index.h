// engine/filter_index.h - the immutable, indexed set of filters of one layer (SPEC S4.3).
//
// A LayerSnapshot is built when a change to the layer is committed and never changes after; a
// classify holds the snapshot it started with (S2.2). Filters are numbered in evaluation order
// ("rank": sublayer weight desc, sublayer age, filter effective weight desc, filter id asc), and
// each filter is put in exactly one index bucket chosen from its conditions, the first that is
// indexable in this order:
//   0. (v4 layers) remote address AND remote port, both plain equalities: one bucket keyed by
//      the (address, port) pair, so a classify for another port is rejected in the hash probe,
//   1. remote address: equality with an address or an address+mask/prefix (bucket per prefix
//      length, keyed by the masked address),
//   2. remote port (equality), 3. local address (as 1), 4. local port, 5. protocol,
//   6. otherwise the wildcard list.
// A field is indexable when every condition on it is an equality (ORed values put the filter in
// several buckets). A classify looks up one bucket per prefix length and one per scalar field,
// merges those few rank-sorted lists with the wildcard list and evaluates the full conditions
// only on these candidates. See docs/architecture.md.
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "engine/callouts.h"
#include "engine/conditions.h"
#include "engine/layers.h"
#include "engine/objects.h"

namespace openwfp::engine {

// A condition in the snapshot's flat form (24 bytes): numbers inline; v6 addresses and blobs by
// index into the snapshot's `sources_` (the Filter's own Condition).
struct CompiledCondition {
  enum class Kind : uint8_t { Number, V4Mask, Bytes16, V6Prefix, Blob };
  Field field;
  uint8_t match;  // MatchType
  Kind kind;
  uint8_t prefixLength = 0;
  uint32_t mask = 0;
  uint64_t lo = 0, hi = 0;  // Bytes16/V6Prefix/Blob: lo = index in sources_
};

// One filter in a snapshot (16 bytes), immediately followed in the snapshot's arena by its
// compiled conditions; records start on a 64-byte boundary, so a filter with up to two
// conditions is one cache line. The Filter and its CalloutSlot are reached through the snapshot
// (LayerSnapshot::filterOf / calloutOf), off the hot path.
struct SnapshotFilter {
  uint32_t rank = 0;                      // evaluation order
  ActionType action = ActionType::Block;  // copies of filter fields the hot path needs
  uint16_t subLayerRank = 0;              // position of the filter's sublayer in evaluation order
  uint16_t runtimeFlags = 0;
  uint16_t conditionCount = 0;
  uint16_t reserved = 0;
  const CompiledCondition* conditions() const {
    return reinterpret_cast<const CompiledCondition*>(reinterpret_cast<const char*>(this) + 16);
  }
};
static_assert(sizeof(SnapshotFilter) == 16 && sizeof(CompiledCondition) == 24);

struct FilterInput {
  std::shared_ptr<const Filter> filter;
  std::shared_ptr<CalloutSlot> callout;
  uint64_t subLayerOrder = 0;  // creation order of the sublayer (tie-break for equal weights)
};

class LayerSnapshot {
 public:
  static std::shared_ptr<const LayerSnapshot> build(const LayerInfo& layer,
                                                    std::vector<FilterInput> filters);
  static std::shared_ptr<const LayerSnapshot> empty(const LayerInfo& layer);

  const LayerInfo& layer() const { return *layer_; }
  size_t size() const { return offsets_.size(); }
  // Every filter in evaluation order.
  std::vector<const SnapshotFilter*> all() const;
  const Filter& filterOf(const SnapshotFilter& sf) const { return *ownedFilters_[sf.rank]; }
  CalloutSlot* calloutOf(const SnapshotFilter& sf) const { return slots_[sf.rank].get(); }

  // Appends the filters whose conditions all hold, in evaluation order.
  void match(const ClassifyValues& values, std::vector<const SnapshotFilter*>& out) const;

  // For tests and docs: how many filters sit in the wildcard list.
  size_t wildcardCount() const { return wildcard_.size(); }

  struct AddrKey {
    uint64_t hi = 0, lo = 0;
    friend bool operator==(const AddrKey&, const AddrKey&) = default;
  };
  struct AddrKeyHash {
    size_t operator()(const AddrKey& k) const noexcept;
  };

 private:
  explicit LayerSnapshot(const LayerInfo& layer) : layer_(&layer) {}

  // Open-addressing hash table from a key to a rank list: a single rank is stored inline, longer
  // lists live in `pool`. One probe sequence per lookup, no node allocations.
  class FlatIndex {
   public:
    struct Hit {
      const uint32_t* ranks = nullptr;
      uint32_t count = 0;
    };
    void build(std::unordered_map<AddrKey, std::vector<uint32_t>, AddrKeyHash>&& lists);
    Hit find(const AddrKey& k) const;
    bool empty() const { return used_ == 0; }

   private:
    struct alignas(32) Slot {  // never straddles a cache line
      AddrKey key;
      uint32_t value = 0;  // the rank (count == 1) or the offset in pool_
      uint32_t count = 0;  // 0 = empty slot
    };
    std::vector<Slot> slots_;
    std::vector<uint32_t> pool_;
    size_t mask_ = 0;
    size_t used_ = 0;
  };
  struct PrefixIndex {
    uint8_t prefixLength = 0;
    FlatIndex table;
  };
  using Staging = std::unordered_map<AddrKey, std::vector<uint32_t>, AddrKeyHash>;

  bool indexFilter(uint32_t rank, const Filter& f, std::vector<std::pair<uint8_t, Staging>>& remote,
                   std::vector<std::pair<uint8_t, Staging>>& local, Staging& rport,
                   Staging& lport, Staging& proto, Staging& addrPort);
  bool matches(const SnapshotFilter& sf, const ClassifyValues& v) const;

  const SnapshotFilter* at(uint32_t offset) const {
    return reinterpret_cast<const SnapshotFilter*>(reinterpret_cast<const char*>(arena_.data()) +
                                                   offset);
  }

  struct alignas(64) Line {
    unsigned char bytes[64];
  };
  const LayerInfo* layer_;
  // Filters in evaluation order, each a SnapshotFilter followed by its compiled conditions, each
  // record starting on a cache line. The index stores byte offsets into the arena, which
  // increase with the evaluation order.
  std::vector<Line> arena_;
  std::vector<uint32_t> offsets_;  // rank -> offset
  std::vector<std::shared_ptr<const Filter>> ownedFilters_;  // by rank
  std::vector<std::shared_ptr<CalloutSlot>> slots_;           // by rank (null: static filter)
  std::vector<const Condition*> sources_;                     // see CompiledCondition::lo
  std::vector<PrefixIndex> remoteAddress_, localAddress_;  // longest prefix first
  FlatIndex remoteAddressPort_;  // v4: key {0, address | port << 32}
  FlatIndex remotePort_, localPort_, protocol_;
  std::vector<uint32_t> wildcard_;
};

// All layers' snapshots at one point in time; swapped as a whole on commit.
struct PolicySnapshot {
  std::array<std::shared_ptr<const LayerSnapshot>, kLayerCount> layers;
  uint64_t generation = 0;
};

}  // namespace openwfp::engine
