#include "engine/filter_index.h"

#include <algorithm>
#include <cstring>
#include <new>

namespace openwfp::engine {
namespace {

LayerSnapshot::AddrKey maskedKey(const LayerInfo& layer, const Endpoint& ep, uint32_t v4,
                                 unsigned prefixLength) {
  LayerSnapshot::AddrKey k;
  if (!layer.v6) {
    uint32_t mask = prefixLength == 0 ? 0 : (0xFFFFFFFFu << (32 - prefixLength));
    k.lo = v4 & mask;
    return k;
  }
  std::array<uint8_t, 16> b = ep.addr;
  for (unsigned i = 0; i < 16; ++i) {
    unsigned bitsHere = prefixLength > i * 8 ? std::min(8u, prefixLength - i * 8) : 0;
    uint8_t m = bitsHere == 0 ? 0 : static_cast<uint8_t>(0xFF << (8 - bitsHere));
    b[i] &= m;
  }
  std::memcpy(&k.hi, b.data(), 8);
  std::memcpy(&k.lo, b.data() + 8, 8);
  return k;
}

// Address conditions usable as an index key: (prefix length, address as an Endpoint/v4).
struct AddrEq {
  unsigned prefixLength;
  Endpoint ep;
  uint32_t v4;
};

bool addressEqualities(const ConditionGroup& g, bool v6, std::vector<AddrEq>& out) {
  for (const auto& c : g.anyOf) {
    if (c.match != MatchType::Equal) return false;
    AddrEq e{};
    switch (c.value.type) {
      case DataType::Uint32:
        if (v6) return false;
        e.prefixLength = 32;
        e.v4 = static_cast<uint32_t>(c.value.number);
        break;
      case DataType::V4AddrMask:
        if (v6) return false;
        e.prefixLength = static_cast<unsigned>(__builtin_popcount(c.value.mask));
        e.v4 = static_cast<uint32_t>(c.value.number);
        break;
      case DataType::ByteArray16:
        if (!v6) return false;
        e.prefixLength = 128;
        e.ep.version = IpVersion::V6;
        e.ep.addr = c.value.bytes;
        break;
      case DataType::V6AddrMask:
        if (!v6) return false;
        e.prefixLength = c.value.prefixLength;
        e.ep.version = IpVersion::V6;
        e.ep.addr = c.value.bytes;
        break;
      default:
        return false;
    }
    out.push_back(e);
  }
  return !out.empty();
}

bool scalarEqualities(const ConditionGroup& g, std::vector<uint32_t>& out) {
  for (const auto& c : g.anyOf) {
    if (c.match != MatchType::Equal) return false;
    if (c.value.type != DataType::Uint8 && c.value.type != DataType::Uint16 &&
        c.value.type != DataType::Uint32)
      return false;
    out.push_back(static_cast<uint32_t>(c.value.number));
  }
  return !out.empty();
}

const ConditionGroup* findGroup(const Filter& f, Field field) {
  for (const auto& g : f.groups)
    if (g.field == field) return &g;
  return nullptr;
}

void addRank(std::vector<uint32_t>& list, uint32_t rank) {
  // Ranks are added in increasing order; ORed values could add the same rank twice.
  if (list.empty() || list.back() != rank) list.push_back(rank);
}

}  // namespace

size_t LayerSnapshot::AddrKeyHash::operator()(const AddrKey& k) const noexcept {
  uint64_t h = (k.lo ^ (k.hi * 0x9E3779B97F4A7C15ull)) * 0xBF58476D1CE4E5B9ull;
  return static_cast<size_t>(h ^ (h >> 31));
}

// ---- FlatIndex ----------------------------------------------------------------------------------

void LayerSnapshot::FlatIndex::build(Staging&& lists) {
  used_ = lists.size();
  if (used_ == 0) return;
  size_t cap = 8;
  while (cap * 3 < used_ * 4) cap <<= 1;  // load factor <= 0.75: fewer pages per lookup
  slots_.assign(cap, Slot{});
  mask_ = cap - 1;
  AddrKeyHash hash;
  for (auto& [key, ranks] : lists) {
    size_t i = hash(key) & mask_;
    while (slots_[i].count != 0) i = (i + 1) & mask_;
    Slot& s = slots_[i];
    s.key = key;
    s.count = static_cast<uint32_t>(ranks.size());
    if (ranks.size() == 1) {
      s.value = ranks[0];
    } else {
      s.value = static_cast<uint32_t>(pool_.size());
      pool_.insert(pool_.end(), ranks.begin(), ranks.end());
    }
  }
}

LayerSnapshot::FlatIndex::Hit LayerSnapshot::FlatIndex::find(const AddrKey& k) const {
  if (used_ == 0) return {};
  size_t i = AddrKeyHash{}(k)&mask_;
  for (;;) {
    const Slot& s = slots_[i];
    if (s.count == 0) return {};
    if (s.key == k) return {s.count == 1 ? &s.value : pool_.data() + s.value, s.count};
    i = (i + 1) & mask_;
  }
}

// ---- build --------------------------------------------------------------------------------------

std::shared_ptr<const LayerSnapshot> LayerSnapshot::empty(const LayerInfo& layer) {
  return std::shared_ptr<const LayerSnapshot>(new LayerSnapshot(layer));
}

namespace {

CompiledCondition compile(const Condition& c, std::vector<const Condition*>& sources) {
  CompiledCondition cc{};
  cc.field = c.field;
  cc.match = static_cast<uint8_t>(c.match);
  auto bySource = [&](CompiledCondition::Kind k) {
    cc.kind = k;
    cc.lo = sources.size();
    sources.push_back(&c);
  };
  switch (c.value.type) {
    case DataType::V4AddrMask:
      cc.kind = CompiledCondition::Kind::V4Mask;
      cc.mask = c.value.mask;
      cc.lo = c.value.number & c.value.mask;
      break;
    case DataType::ByteArray16:
      bySource(CompiledCondition::Kind::Bytes16);
      break;
    case DataType::V6AddrMask:
      bySource(CompiledCondition::Kind::V6Prefix);
      cc.prefixLength = c.value.prefixLength;
      break;
    case DataType::ByteBlob:
    case DataType::SecurityDescriptor:
      bySource(CompiledCondition::Kind::Blob);
      break;
    default:
      cc.kind = CompiledCondition::Kind::Number;
      cc.lo = c.value.number;
      cc.hi = c.high.number;
      break;
  }
  return cc;
}

}  // namespace

std::shared_ptr<const LayerSnapshot> LayerSnapshot::build(const LayerInfo& layer,
                                                          std::vector<FilterInput> in) {
  std::shared_ptr<LayerSnapshot> s(new LayerSnapshot(layer));
  std::sort(in.begin(), in.end(), [](const FilterInput& a, const FilterInput& b) {
    const Filter& fa = *a.filter;
    const Filter& fb = *b.filter;
    if (fa.subLayerWeight != fb.subLayerWeight) return fa.subLayerWeight > fb.subLayerWeight;
    if (a.subLayerOrder != b.subLayerOrder) return a.subLayerOrder < b.subLayerOrder;
    if (fa.effectiveWeight != fb.effectiveWeight) return fa.effectiveWeight > fb.effectiveWeight;
    return fa.id < fb.id;
  });
  auto recordBytes = [](size_t conditions) {
    size_t b = sizeof(SnapshotFilter) + conditions * sizeof(CompiledCondition);
    return (b + sizeof(Line) - 1) / sizeof(Line) * sizeof(Line);
  };
  size_t bytes = 0;
  for (const auto& f : in) {
    size_t n = 0;
    for (const auto& g : f.filter->groups) n += g.anyOf.size();
    bytes += recordBytes(n);
  }
  s->arena_.resize(bytes / sizeof(Line));
  s->offsets_.reserve(in.size());
  s->ownedFilters_.reserve(in.size());
  s->slots_.reserve(in.size());
  uint32_t subRank = 0;
  size_t offset = 0;
  const Filter* previous = nullptr;
  char* base = reinterpret_cast<char*>(s->arena_.data());
  for (size_t i = 0; i < in.size(); ++i) {
    const Filter* f = in[i].filter.get();
    if (previous && f->subLayerKey != previous->subLayerKey) ++subRank;
    previous = f;
    auto* sf = new (base + offset) SnapshotFilter;
    sf->rank = static_cast<uint32_t>(i);
    sf->action = f->spec.action;
    sf->subLayerRank = static_cast<uint16_t>(subRank);
    sf->runtimeFlags = f->runtimeFlags;
    // Compiled conditions, grouped by field (same field = ORed, consecutive).
    uint16_t n = 0;
    for (const auto& g : f->groups)
      for (const auto& c : g.anyOf) {
        new (base + offset + sizeof(SnapshotFilter) + n * sizeof(CompiledCondition))
            CompiledCondition(compile(c, s->sources_));
        ++n;
      }
    sf->conditionCount = n;
    s->offsets_.push_back(static_cast<uint32_t>(offset));
    offset += recordBytes(n);
    s->ownedFilters_.push_back(std::move(in[i].filter));
    s->slots_.push_back(std::move(in[i].callout));
  }
  std::vector<std::pair<uint8_t, Staging>> remote, local;
  Staging rport, lport, proto, addrPort;
  for (uint32_t off : s->offsets_) {
    if (!s->indexFilter(off, s->filterOf(*s->at(off)), remote, local, rport, lport, proto, addrPort))
      s->wildcard_.push_back(off);
  }
  auto finishAddress = [](std::vector<std::pair<uint8_t, Staging>>& staged,
                          std::vector<PrefixIndex>& out) {
    std::sort(staged.begin(), staged.end(),
              [](const auto& a, const auto& b) { return a.first > b.first; });
    out.resize(staged.size());
    for (size_t i = 0; i < staged.size(); ++i) {
      out[i].prefixLength = staged[i].first;
      out[i].table.build(std::move(staged[i].second));
    }
  };
  finishAddress(remote, s->remoteAddress_);
  finishAddress(local, s->localAddress_);
  s->remotePort_.build(std::move(rport));
  s->localPort_.build(std::move(lport));
  s->protocol_.build(std::move(proto));
  s->remoteAddressPort_.build(std::move(addrPort));
  return s;
}

bool LayerSnapshot::indexFilter(uint32_t rank, const Filter& f,
                                std::vector<std::pair<uint8_t, Staging>>& remote,
                                std::vector<std::pair<uint8_t, Staging>>& local, Staging& rport,
                                Staging& lport, Staging& proto, Staging& addrPort) {
  if (!layer_->v6) {
    // Composite (address, port) key: every remote-address condition a /32 equality and every
    // remote-port condition an equality.
    const ConditionGroup* ga = findGroup(f, Field::RemoteAddress);
    const ConditionGroup* gp = findGroup(f, Field::RemotePort);
    std::vector<AddrEq> eqs;
    std::vector<uint32_t> ports;
    if (ga && gp && addressEqualities(*ga, false, eqs) && scalarEqualities(*gp, ports) &&
        std::all_of(eqs.begin(), eqs.end(), [](const AddrEq& e) { return e.prefixLength == 32; })) {
      for (const auto& e : eqs)
        for (uint32_t port : ports) addRank(addrPort[AddrKey{0, e.v4 | (uint64_t{port} << 32)}], rank);
      return true;
    }
  }
  auto indexAddress = [&](Field field, std::vector<std::pair<uint8_t, Staging>>& staged) {
    const ConditionGroup* g = findGroup(f, field);
    if (!g) return false;
    std::vector<AddrEq> eqs;
    if (!addressEqualities(*g, layer_->v6, eqs)) return false;
    for (const auto& e : eqs) {
      auto it = std::find_if(staged.begin(), staged.end(),
                             [&](const auto& p) { return p.first == e.prefixLength; });
      if (it == staged.end()) {
        staged.emplace_back(static_cast<uint8_t>(e.prefixLength), Staging{});
        it = staged.end() - 1;
      }
      addRank(it->second[maskedKey(*layer_, e.ep, e.v4, e.prefixLength)], rank);
    }
    return true;
  };
  auto indexScalar = [&](Field field, Staging& map) {
    const ConditionGroup* g = findGroup(f, field);
    if (!g) return false;
    std::vector<uint32_t> values;
    if (!scalarEqualities(*g, values)) return false;
    for (uint32_t v : values) addRank(map[AddrKey{0, v}], rank);
    return true;
  };
  return indexAddress(Field::RemoteAddress, remote) || indexScalar(Field::RemotePort, rport) ||
         indexAddress(Field::LocalAddress, local) || indexScalar(Field::LocalPort, lport) ||
         indexScalar(Field::Protocol, proto);
}

// ---- match --------------------------------------------------------------------------------------

namespace {

bool numberMatch(MatchType m, uint64_t x, uint64_t lo, uint64_t hi) {
  switch (m) {
    case MatchType::Equal: return x == lo;
    case MatchType::NotEqual: return x != lo;
    case MatchType::Greater: return x > lo;
    case MatchType::Less: return x < lo;
    case MatchType::GreaterOrEqual: return x >= lo;
    case MatchType::LessOrEqual: return x <= lo;
    case MatchType::Range: return x >= lo && x <= hi;
    case MatchType::FlagsAllSet: return (x & lo) == lo;
    case MatchType::FlagsAnySet: return (x & lo) != 0;
    case MatchType::FlagsNoneSet: return (x & lo) == 0;
    default: return false;
  }
}

uint64_t scalarOf(Field f, const ClassifyValues& v) {
  switch (f) {
    case Field::UserId: return v.userId;
    case Field::LocalPort: return v.local.port;
    case Field::RemotePort: return v.remote.port;
    case Field::Protocol: return v.protocol;
    case Field::Flags: return v.flags;
    case Field::LocalAddressType: return v.localAddressType;
    case Field::DestinationAddressType: return v.destinationAddressType;
    case Field::LocalAddress: return v.localV4;
    case Field::RemoteAddress: return v.remoteV4;
    case Field::AppId: return 0;
  }
  return 0;
}

bool compiledMatches(const CompiledCondition& c, const LayerInfo& layer, const ClassifyValues& v,
                     const std::vector<const Condition*>& sources) {
  switch (c.kind) {
    case CompiledCondition::Kind::Number:
      return numberMatch(static_cast<MatchType>(c.match), scalarOf(c.field, v), c.lo, c.hi);
    case CompiledCondition::Kind::V4Mask: {
      bool in = (scalarOf(c.field, v) & c.mask) == c.lo;
      return static_cast<MatchType>(c.match) == MatchType::NotEqual ? !in : in;
    }
    default:
      return conditionMatches(*sources[c.lo], layer, v);
  }
}

}  // namespace

std::vector<const SnapshotFilter*> LayerSnapshot::all() const {
  std::vector<const SnapshotFilter*> out;
  out.reserve(offsets_.size());
  for (uint32_t off : offsets_) out.push_back(at(off));
  return out;
}

bool LayerSnapshot::matches(const SnapshotFilter& sf, const ClassifyValues& v) const {
  const CompiledCondition* c = sf.conditions();
  const CompiledCondition* end = c + sf.conditionCount;
  while (c != end) {
    // One field group: ORed conditions.
    Field field = c->field;
    bool any = false;
    for (; c != end && c->field == field; ++c)
      if (!any && compiledMatches(*c, *layer_, v, sources_)) any = true;
    if (!any) return false;
  }
  return true;
}

void LayerSnapshot::match(const ClassifyValues& v, std::vector<const SnapshotFilter*>& out) const {
  if (offsets_.empty()) return;
  // A handful of rank lists: one per prefix length in use plus one per scalar index. Reused per
  // thread: no allocation on the classify path once warm.
  struct List {
    const uint32_t* ranks;
    uint32_t count;
    uint32_t pos;
  };
  thread_local std::vector<List> lists;
  lists.clear();
  if (!wildcard_.empty())
    lists.push_back({wildcard_.data(), static_cast<uint32_t>(wildcard_.size()), 0});
  auto add = [&](FlatIndex::Hit h) {
    if (h.count) lists.push_back({h.ranks, h.count, 0});
  };
  add(remoteAddressPort_.find(AddrKey{0, v.remoteV4 | (uint64_t{v.remote.port} << 32)}));
  for (const auto& p : remoteAddress_)
    add(p.table.find(maskedKey(*layer_, v.remote, v.remoteV4, p.prefixLength)));
  for (const auto& p : localAddress_)
    add(p.table.find(maskedKey(*layer_, v.local, v.localV4, p.prefixLength)));
  add(remotePort_.find(AddrKey{0, v.remote.port}));
  add(localPort_.find(AddrKey{0, v.local.port}));
  add(protocol_.find(AddrKey{0, v.protocol}));

  auto consider = [&](uint32_t offset) {
    const SnapshotFilter* sf = at(offset);
    if (matches(*sf, v)) out.push_back(sf);
  };
  if (lists.size() == 1) {
    for (uint32_t i = 0; i < lists[0].count; ++i) consider(lists[0].ranks[i]);
    return;
  }
  // k-way merge of rank-sorted lists (k is small), skipping duplicates.
  uint32_t last = UINT32_MAX;
  for (;;) {
    List* best = nullptr;
    for (auto& l : lists)
      if (l.pos < l.count && (!best || l.ranks[l.pos] < best->ranks[best->pos])) best = &l;
    if (!best) break;
    uint32_t rank = best->ranks[best->pos++];
    if (rank == last) continue;
    last = rank;
    consider(rank);
  }
}

}  // namespace openwfp::engine
