// kapi/abi.cpp - conversions between WDK structures and engine types; FWPS_FILTER3 views.
#include "kapi/abi.h"

namespace openwfp::kapi {

using engine::DataType;
using engine::Status;

bool endpointFromSockaddr(const SOCKADDR_STORAGE& ss, Endpoint& out) {
  if (ss.ss_family == kAfInet) {
    const auto& sin = reinterpret_cast<const SOCKADDR_IN&>(ss);
    out = Endpoint{};
    out.version = IpVersion::V4;
    std::memcpy(out.addr.data(), &sin.sin_addr, 4);
    out.port = static_cast<uint16_t>((sin.sin_port >> 8) | ((sin.sin_port & 0xFF) << 8));
    return true;
  }
  if (ss.ss_family == kAfInet6) {
    const auto& sin6 = reinterpret_cast<const SOCKADDR_IN6&>(ss);
    out = Endpoint{};
    out.version = IpVersion::V6;
    std::memcpy(out.addr.data(), &sin6.sin6_addr, 16);
    out.port = static_cast<uint16_t>((sin6.sin6_port >> 8) | ((sin6.sin6_port & 0xFF) << 8));
    return true;
  }
  return false;
}

void sockaddrFromEndpoint(const Endpoint& ep, SOCKADDR_STORAGE& out) {
  std::memset(&out, 0, sizeof out);
  const USHORT port = static_cast<USHORT>((ep.port >> 8) | ((ep.port & 0xFF) << 8));
  if (ep.version == IpVersion::V4) {
    auto& sin = reinterpret_cast<SOCKADDR_IN&>(out);
    sin.sin_family = kAfInet;
    sin.sin_port = port;
    std::memcpy(&sin.sin_addr, ep.addr.data(), 4);
  } else {
    auto& sin6 = reinterpret_cast<SOCKADDR_IN6&>(out);
    sin6.sin6_family = kAfInet6;
    sin6.sin6_port = port;
    std::memcpy(&sin6.sin6_addr, ep.addr.data(), 16);
  }
}

Status valueFromAbi(const FWP_VALUE0& in, engine::Value& out) {
  out = engine::Value{};
  out.type = static_cast<DataType>(in.type);
  switch (in.type) {
    case FWP_EMPTY: return Status::Success;
    case FWP_UINT8: out.number = in.uint8; return Status::Success;
    case FWP_UINT16: out.number = in.uint16; return Status::Success;
    case FWP_UINT32: out.number = in.uint32; return Status::Success;
    case FWP_UINT64:
      if (!in.uint64) return Status::FwpNullPointer;
      out.number = *in.uint64;
      return Status::Success;
    case FWP_BYTE_ARRAY16_TYPE:
      if (!in.byteArray16) return Status::FwpNullPointer;
      std::memcpy(out.bytes.data(), in.byteArray16->byteArray16, 16);
      return Status::Success;
    case FWP_BYTE_BLOB_TYPE:
    case FWP_SECURITY_DESCRIPTOR_TYPE:
      if (!in.byteBlob) return Status::FwpNullPointer;
      if (in.byteBlob->size && !in.byteBlob->data) return Status::FwpNullPointer;
      out.blob.assign(in.byteBlob->data, in.byteBlob->data + in.byteBlob->size);
      return Status::Success;
    default:
      return Status::FwpTypeMismatch;
  }
}

Status valueFromAbi(const FWP_CONDITION_VALUE0& in, engine::Value& out, engine::Value& high) {
  high = engine::Value{};
  switch (in.type) {
    case FWP_V4_ADDR_MASK:
      if (!in.v4AddrMask) return Status::FwpNullPointer;
      out = engine::Value::v4Mask(in.v4AddrMask->addr, in.v4AddrMask->mask);
      return Status::Success;
    case FWP_V6_ADDR_MASK: {
      if (!in.v6AddrMask) return Status::FwpNullPointer;
      std::array<uint8_t, 16> a{};
      std::memcpy(a.data(), in.v6AddrMask->addr, 16);
      out = engine::Value::v6Prefix(a, in.v6AddrMask->prefixLength);
      return Status::Success;
    }
    case FWP_RANGE_TYPE: {
      if (!in.rangeValue) return Status::FwpNullPointer;
      Status s = valueFromAbi(in.rangeValue->valueLow, out);
      if (s != Status::Success) return s;
      return valueFromAbi(in.rangeValue->valueHigh, high);
    }
    default: {
      // Same layout as FWP_VALUE0 for the scalar arms.
      FWP_VALUE0 v;
      std::memcpy(&v, &in, sizeof v);
      return valueFromAbi(v, out);
    }
  }
}

std::wstring wideOrEmpty(const wchar_t* s) { return s ? std::wstring(s) : std::wstring(); }

engine::DisplayData displayFromAbi(const FWPM_DISPLAY_DATA0& d) {
  engine::DisplayData out;
  out.hasName = d.name != nullptr;
  out.name = wideOrEmpty(d.name);
  out.description = wideOrEmpty(d.description);
  return out;
}

std::vector<uint8_t> blobFromAbi(const FWP_BYTE_BLOB& b) {
  if (!b.data || !b.size) return {};
  return std::vector<uint8_t>(b.data, b.data + b.size);
}

wchar_t* packString(Packer& p, const std::wstring& s) {
  wchar_t* w = p.alloc<wchar_t>(s.size() + 1);
  if (w) std::memcpy(w, s.c_str(), (s.size() + 1) * sizeof(wchar_t));
  return w;
}

namespace {

void packScalar(Packer& p, const engine::Value& v, FWP_VALUE0& out) {
  out.type = static_cast<FWP_DATA_TYPE>(v.type);
  switch (v.type) {
    case DataType::Uint8: out.uint8 = static_cast<UINT8>(v.number); break;
    case DataType::Uint16: out.uint16 = static_cast<UINT16>(v.number); break;
    case DataType::Uint32: out.uint32 = static_cast<UINT32>(v.number); break;
    case DataType::Uint64: {
      UINT64* u = p.alloc<UINT64>();
      if (u) *u = v.number;
      out.uint64 = u;
      break;
    }
    case DataType::ByteArray16: {
      auto* a = p.alloc<FWP_BYTE_ARRAY16>();
      if (a) std::memcpy(a->byteArray16, v.bytes.data(), 16);
      out.byteArray16 = a;
      break;
    }
    case DataType::ByteBlob:
    case DataType::SecurityDescriptor: {
      auto* b = p.alloc<FWP_BYTE_BLOB>();
      auto* d = p.alloc<UINT8>(v.blob.size());
      if (b) {
        b->size = static_cast<UINT32>(v.blob.size());
        b->data = d;
        if (!v.blob.empty()) std::memcpy(d, v.blob.data(), v.blob.size());
      }
      out.byteBlob = b;
      break;
    }
    default:
      break;
  }
}

void packCondition(Packer& p, const engine::Condition& c, FWPM_FILTER_CONDITION0& out) {
  out.fieldKey = fromGuid(engine::conditionKey(c.field));
  out.matchType = static_cast<FWP_MATCH_TYPE>(c.match);
  auto& cv = out.conditionValue;
  if (c.match == engine::MatchType::Range) {
    cv.type = FWP_RANGE_TYPE;
    auto* r = p.alloc<FWP_RANGE0>();
    if (r) {
      packScalar(p, c.value, r->valueLow);
      packScalar(p, c.high, r->valueHigh);
    } else {
      FWP_VALUE0 scratch{};
      packScalar(p, c.value, scratch);
      packScalar(p, c.high, scratch);
    }
    cv.rangeValue = r;
    return;
  }
  if (c.value.type == DataType::V4AddrMask) {
    cv.type = FWP_V4_ADDR_MASK;
    auto* m = p.alloc<FWP_V4_ADDR_AND_MASK>();
    if (m) {
      m->addr = static_cast<UINT32>(c.value.number);
      m->mask = c.value.mask;
    }
    cv.v4AddrMask = m;
    return;
  }
  if (c.value.type == DataType::V6AddrMask) {
    cv.type = FWP_V6_ADDR_MASK;
    auto* m = p.alloc<FWP_V6_ADDR_AND_MASK>();
    if (m) {
      std::memcpy(m->addr, c.value.bytes.data(), 16);
      m->prefixLength = c.value.prefixLength;
    }
    cv.v6AddrMask = m;
    return;
  }
  FWP_VALUE0 v{};
  packScalar(p, c.value, v);
  std::memcpy(&cv, &v, sizeof v);
}

}  // namespace

void packFilter(Packer& p, FWPM_FILTER0* out, const engine::Filter& f) {
  FWPM_FILTER0 scratch{};
  FWPM_FILTER0& o = out ? *out : scratch;
  const auto& s = f.spec;
  o.filterKey = fromGuid(s.key);
  o.displayData.name = packString(p, s.display.name);
  o.displayData.description = s.display.description.empty() ? nullptr : packString(p, s.display.description);
  o.flags = s.flags;
  if (s.providerKey) {
    GUID* g = p.alloc<GUID>();
    if (g) *g = fromGuid(*s.providerKey);
    o.providerKey = g;
  }
  if (!s.providerData.empty()) {
    UINT8* d = p.alloc<UINT8>(s.providerData.size());
    if (d) std::memcpy(d, s.providerData.data(), s.providerData.size());
    o.providerData.size = static_cast<UINT32>(s.providerData.size());
    o.providerData.data = d;
  }
  o.layerKey = fromGuid(s.layerKey);
  o.subLayerKey = fromGuid(f.subLayerKey);
  engine::Value w;
  w.type = s.weight.type;
  w.number = s.weight.value;
  packScalar(p, w, o.weight);
  o.numFilterConditions = static_cast<UINT32>(s.conditions.size());
  auto* conds = p.alloc<FWPM_FILTER_CONDITION0>(s.conditions.size());
  for (size_t i = 0; i < s.conditions.size(); ++i) {
    FWPM_FILTER_CONDITION0 tmp{};
    packCondition(p, s.conditions[i], conds ? conds[i] : tmp);
  }
  o.filterCondition = s.conditions.empty() ? nullptr : conds;
  o.action.type = static_cast<FWP_ACTION_TYPE>(s.action);
  o.action.calloutKey = fromGuid(s.filterTypeOrCalloutKey);
  o.rawContext = s.rawContext;
  o.reserved = nullptr;
  o.filterId = f.id;
  engine::Value ew;
  ew.type = DataType::Uint64;
  ew.number = f.effectiveWeight;
  packScalar(p, ew, o.effectiveWeight);
}

// ---- ValueStore / FilterView --------------------------------------------------------------------

void ValueStore::scalarToAbi(const engine::Value& v, FWP_VALUE0& out) {
  std::memset(&out, 0, sizeof out);
  out.type = static_cast<FWP_DATA_TYPE>(v.type);
  switch (v.type) {
    case DataType::Uint8: out.uint8 = static_cast<UINT8>(v.number); break;
    case DataType::Uint16: out.uint16 = static_cast<UINT16>(v.number); break;
    case DataType::Uint32: out.uint32 = static_cast<UINT32>(v.number); break;
    case DataType::Uint64: out.uint64 = &u64_.emplace_back(v.number); break;
    case DataType::ByteArray16: {
      auto& a = arrays_.emplace_back();
      std::memcpy(a.byteArray16, v.bytes.data(), 16);
      out.byteArray16 = &a;
      break;
    }
    case DataType::ByteBlob:
    case DataType::SecurityDescriptor: {
      auto& bytes = bytes_.emplace_back(v.blob);
      auto& b = blobs_.emplace_back();
      b.size = static_cast<UINT32>(bytes.size());
      b.data = bytes.data();
      out.byteBlob = &b;
      break;
    }
    default:
      break;
  }
}

void ValueStore::toAbi(const engine::Condition& c, FWP_CONDITION_VALUE0& out) {
  std::memset(&out, 0, sizeof out);
  if (c.match == engine::MatchType::Range) {
    auto& r = ranges_.emplace_back();
    scalarToAbi(c.value, r.valueLow);
    scalarToAbi(c.high, r.valueHigh);
    out.type = FWP_RANGE_TYPE;
    out.rangeValue = &r;
    return;
  }
  if (c.value.type == DataType::V4AddrMask) {
    auto& m = v4_.emplace_back();
    m.addr = static_cast<UINT32>(c.value.number);
    m.mask = c.value.mask;
    out.type = FWP_V4_ADDR_MASK;
    out.v4AddrMask = &m;
    return;
  }
  if (c.value.type == DataType::V6AddrMask) {
    auto& m = v6_.emplace_back();
    std::memcpy(m.addr, c.value.bytes.data(), 16);
    m.prefixLength = c.value.prefixLength;
    out.type = FWP_V6_ADDR_MASK;
    out.v6AddrMask = &m;
    return;
  }
  FWP_VALUE0 v;
  scalarToAbi(c.value, v);
  std::memcpy(&out, &v, sizeof v);
}

namespace {

std::shared_ptr<void> makeFilterView(const engine::Filter& f) {
  auto view = std::make_shared<FilterView>();
  view->weight = f.effectiveWeight;
  auto& fl = view->filter;
  fl.filterId = f.id;
  fl.weight.type = FWP_UINT64;
  fl.weight.uint64 = &view->weight;
  fl.subLayerWeight = f.subLayerWeight;
  fl.flags = f.runtimeFlags;
  view->conditions.resize(f.spec.conditions.size());
  for (size_t i = 0; i < f.spec.conditions.size(); ++i) {
    const auto& c = f.spec.conditions[i];
    auto& out = view->conditions[i];
    out.fieldId = static_cast<UINT16>(f.layer->index(c.field));
    out.reserved = 0;
    out.matchType = static_cast<FWP_MATCH_TYPE>(c.match);
    view->store.toAbi(c, out.conditionValue);
  }
  fl.numFilterConditions = static_cast<UINT32>(view->conditions.size());
  fl.filterCondition = view->conditions.empty() ? nullptr : view->conditions.data();
  fl.action.type = static_cast<FWP_ACTION_TYPE>(f.spec.action);
  fl.action.calloutId = f.calloutId;
  fl.context = f.spec.rawContext;
  fl.providerContext = nullptr;
  return view;
}

// Installed when the library loads: every engine builds FWPS_FILTER3 views with it.
const bool g_viewFactoryInstalled = [] {
  engine::setDefaultFilterViewFactory(&makeFilterView);
  return true;
}();

}  // namespace

std::shared_ptr<ClassifyAbi> abiOf(engine::Classify& c) {
  return c.abiState<ClassifyAbi>([] { return std::make_shared<ClassifyAbi>(); });
}

}  // namespace openwfp::kapi
