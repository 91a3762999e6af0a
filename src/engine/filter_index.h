// engine/filter_index.h - the immutable, indexed set of filters of one layer (SPEC S4.3).
//
// A LayerSnapshot is built when a change to the layer is committed and never changes after; a
// classify holds the snapshot it started with (S2.2). Filters are numbered in evaluation order
// ("rank": sublayer weight desc, sublayer age, filter effective weight desc, filter id asc), and
// each filter is put in exactly one index bucket chosen from its conditions, the first that is
// indexable in this order:
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

// A condition in the snapshot's flat form (32 bytes): numbers inline, v6 addresses and blobs by
// pointer into the (immutable, shared-owned) Filter.
struct CompiledCondition {
  enum class Kind : uint8_t { Number, V4Mask, Bytes16, V6Prefix, Blob };
  Field field;
  uint8_t match;  // MatchType
  Kind kind;
  uint8_t prefixLength = 0;
  uint32_t mask = 0;
  uint64_t lo = 0, hi = 0;
  const Condition* source = nullptr;
};

// One filter in a snapshot (32 bytes), immediately followed in the snapshot's arena by its
// compiled conditions, so that a classify touches one or two cache lines per candidate.
struct alignas(32) SnapshotFilter {
  const Filter* filter = nullptr;        // owned by the snapshot
  CalloutSlot* callout = nullptr;        // callout actions only; owned by the snapshot
  ActionType action = ActionType::Block; // copies of filter fields the hot path needs
  uint32_t subLayerRank = 0;             // position of the filter's sublayer in evaluation order
  uint16_t runtimeFlags = 0;
  uint16_t conditionCount = 0;
  uint32_t rank = 0;
  const CompiledCondition* conditions() const {
    return reinterpret_cast<const CompiledCondition*>(this + 1);
  }
};
static_assert(sizeof(SnapshotFilter) == 32 && sizeof(CompiledCondition) == 32);

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
    struct Slot {
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
                   Staging& lport, Staging& proto);
  bool matches(const SnapshotFilter& sf, const ClassifyValues& v) const;

  const SnapshotFilter* at(uint32_t offset) const {
    return reinterpret_cast<const SnapshotFilter*>(arena_.data() + offset);
  }

  struct alignas(32) Unit {
    unsigned char bytes[32];
  };
  const LayerInfo* layer_;
  // Filters in evaluation order, each a SnapshotFilter unit followed by its condition units. The
  // index stores arena offsets (in units), which increase with the evaluation order.
  std::vector<Unit> arena_;
  std::vector<uint32_t> offsets_;  // rank -> offset
  std::vector<std::shared_ptr<const Filter>> ownedFilters_;
  std::vector<std::shared_ptr<CalloutSlot>> ownedSlots_;
  std::vector<PrefixIndex> remoteAddress_, localAddress_;  // longest prefix first
  FlatIndex remotePort_, localPort_, protocol_;
  std::vector<uint32_t> wildcard_;
};

// All layers' snapshots at one point in time; swapped as a whole on commit.
struct PolicySnapshot {
  std::array<std::shared_ptr<const LayerSnapshot>, kLayerCount> layers;
  uint64_t generation = 0;
};

}  // namespace openwfp::engine
