// um/codec.cpp - see codec.h. Wire layout (little endian): docs/control-channel.md
// "Management calls"; strings are UTF-32 code units (wchar_t), counted, without the NUL.
#include "um/codec.h"

namespace openwfp::um {

namespace {

constexpr uint32_t kMaxSidSubAuthorities = 15;

// The SDK's enums have no fixed underlying type: a C++ load of a value beyond the range their
// enumerators span is undefined. Encoders read the member's 4 bytes as they are (a caller may
// have stored anything); decoders refuse what the enum cannot hold.
template <typename E>
uint32_t raw32(const E& e) {
  static_assert(sizeof(E) == 4);
  uint32_t v;
  std::memcpy(&v, &e, 4);
  return v;
}
constexpr uint32_t kDataTypeLimit = 0x1FF;   // FWP_DATA_TYPE: enumerators up to 0x103
constexpr uint32_t kMatchTypeLimit = 0xF;    // FWP_MATCH_TYPE: up to 13
constexpr uint32_t kEnumTypeLimit = 0x3;     // FWP_FILTER_ENUM_TYPE: up to 2

template <typename E>
E checkedEnum(Reader& r, uint32_t limit) {
  uint32_t v = r.u32();
  if (v > limit) {
    r.fail();
    v = 0;
  }
  return static_cast<E>(v);
}

// ---- pieces ---------------------------------------------------------------------------------

void encodeString(Writer& w, const wchar_t* s) {
  w.u8(s ? 1 : 0);
  if (!s) return;
  size_t n = std::wcslen(s);
  w.u32(static_cast<uint32_t>(n));
  for (size_t i = 0; i < n; ++i) w.u32(static_cast<uint32_t>(s[i]));
}

wchar_t* decodeString(Reader& r, Packer& p) {
  if (!r.u8()) return nullptr;
  uint32_t n = r.u32();
  if (!r.countFits(n, 4)) return nullptr;
  wchar_t* s = p.alloc<wchar_t>(static_cast<size_t>(n) + 1);
  for (uint32_t i = 0; i < n; ++i) s[i] = static_cast<wchar_t>(r.u32());
  return s;
}

void encodeDisplay(Writer& w, const FWPM_DISPLAY_DATA0& d) {
  encodeString(w, d.name);
  encodeString(w, d.description);
}

void decodeDisplay(Reader& r, Packer& p, FWPM_DISPLAY_DATA0& d) {
  d.name = decodeString(r, p);
  d.description = decodeString(r, p);
}

void encodeOptGuid(Writer& w, const GUID* g) {
  w.u8(g ? 1 : 0);
  if (g) encodeGuid(w, *g);
}

GUID* decodeOptGuid(Reader& r, Packer& p) {
  if (!r.u8()) return nullptr;
  GUID* g = p.alloc<GUID>();
  *g = decodeGuid(r);
  return g;
}

// A blob by value: size, then the bytes (a size with no data cannot be sent).
void encodeBlob(Writer& w, const FWP_BYTE_BLOB& b) {
  if (b.size && !b.data) {
    w.fail();
    return;
  }
  w.u32(b.size);
  w.raw(b.data, b.size);
}

void decodeBlob(Reader& r, Packer& p, FWP_BYTE_BLOB& b) {
  uint32_t n = r.u32();
  if (!r.countFits(n, 1)) return;
  b.size = n;
  b.data = n ? p.alloc<UINT8>(n) : nullptr;
  if (n) r.raw(b.data, n);
}

template <typename T>
T* decodePresent(Reader& r, Packer& p) {
  return r.u8() ? p.alloc<T>() : nullptr;
}

// The union arms FWP_VALUE0 and FWP_CONDITION_VALUE0 share (same layout); `cond` adds the
// condition-only types.
void encodeValue(Writer& w, const FWP_CONDITION_VALUE0& v, bool cond) {
  uint32_t type = raw32(v.type);
  w.u32(type);
  switch (type) {
    case FWP_UINT8: w.u8(v.uint8); break;
    case FWP_INT8: w.u8(static_cast<uint8_t>(v.int8)); break;
    case FWP_UINT16: w.u16(v.uint16); break;
    case FWP_INT16: w.u16(static_cast<uint16_t>(v.int16)); break;
    case FWP_UINT32: w.u32(v.uint32); break;
    case FWP_INT32: w.u32(static_cast<uint32_t>(v.int32)); break;
    case FWP_FLOAT: {
      uint32_t bits;
      std::memcpy(&bits, &v.float32, 4);
      w.u32(bits);
      break;
    }
    case FWP_UINT64:
    case FWP_INT64:
    case FWP_DOUBLE:  // all three point to 8 bytes
      w.u8(v.uint64 ? 1 : 0);
      if (v.uint64) w.raw(v.uint64, 8);
      break;
    case FWP_BYTE_ARRAY16_TYPE:
      w.u8(v.byteArray16 ? 1 : 0);
      if (v.byteArray16) w.raw(v.byteArray16->byteArray16, 16);
      break;
    case FWP_BYTE_ARRAY6_TYPE:
      w.u8(v.byteArray6 ? 1 : 0);
      if (v.byteArray6) w.raw(v.byteArray6->byteArray6, 6);
      break;
    case FWP_BYTE_BLOB_TYPE:
    case FWP_SECURITY_DESCRIPTOR_TYPE:
    case FWP_TOKEN_ACCESS_INFORMATION_TYPE:
      w.u8(v.byteBlob ? 1 : 0);
      if (v.byteBlob) encodeBlob(w, *v.byteBlob);
      break;
    case FWP_SID:
      w.u8(v.sid ? 1 : 0);
      if (v.sid) {
        if (v.sid->SubAuthorityCount > kMaxSidSubAuthorities) return w.fail();
        w.u8(v.sid->Revision);
        w.u8(v.sid->SubAuthorityCount);
        w.raw(v.sid->IdentifierAuthority.Value, 6);
        for (unsigned i = 0; i < v.sid->SubAuthorityCount; ++i) w.u32(v.sid->SubAuthority[i]);
      }
      break;
    case FWP_UNICODE_STRING_TYPE: encodeString(w, v.unicodeString); break;
    case FWP_V4_ADDR_MASK:
      if (!cond) break;
      w.u8(v.v4AddrMask ? 1 : 0);
      if (v.v4AddrMask) {
        w.u32(v.v4AddrMask->addr);
        w.u32(v.v4AddrMask->mask);
      }
      break;
    case FWP_V6_ADDR_MASK:
      if (!cond) break;
      w.u8(v.v6AddrMask ? 1 : 0);
      if (v.v6AddrMask) {
        w.raw(v.v6AddrMask->addr, 16);
        w.u8(v.v6AddrMask->prefixLength);
      }
      break;
    case FWP_RANGE_TYPE:
      if (!cond) break;
      w.u8(v.rangeValue ? 1 : 0);
      if (v.rangeValue) {
        FWP_CONDITION_VALUE0 lo{}, hi{};
        std::memcpy(&lo, &v.rangeValue->valueLow, sizeof v.rangeValue->valueLow);
        std::memcpy(&hi, &v.rangeValue->valueHigh, sizeof v.rangeValue->valueHigh);
        encodeValue(w, lo, false);
        encodeValue(w, hi, false);
      }
      break;
    default: break;  // FWP_EMPTY, FWP_TOKEN_INFORMATION_TYPE, unknown types: the type alone
  }
}

void decodeValue(Reader& r, Packer& p, FWP_CONDITION_VALUE0& v, bool cond) {
  v.type = checkedEnum<FWP_DATA_TYPE>(r, kDataTypeLimit);
  switch (v.type) {
    case FWP_UINT8: v.uint8 = r.u8(); break;
    case FWP_INT8: v.int8 = static_cast<INT8>(r.u8()); break;
    case FWP_UINT16: v.uint16 = r.u16(); break;
    case FWP_INT16: v.int16 = static_cast<INT16>(r.u16()); break;
    case FWP_UINT32: v.uint32 = r.u32(); break;
    case FWP_INT32: v.int32 = static_cast<INT32>(r.u32()); break;
    case FWP_FLOAT: {
      uint32_t bits = r.u32();
      std::memcpy(&v.float32, &bits, 4);
      break;
    }
    case FWP_UINT64:
    case FWP_INT64:
    case FWP_DOUBLE:
      if ((v.uint64 = decodePresent<UINT64>(r, p))) r.raw(v.uint64, 8);
      break;
    case FWP_BYTE_ARRAY16_TYPE:
      if ((v.byteArray16 = decodePresent<FWP_BYTE_ARRAY16>(r, p))) r.raw(v.byteArray16->byteArray16, 16);
      break;
    case FWP_BYTE_ARRAY6_TYPE:
      if ((v.byteArray6 = decodePresent<FWP_BYTE_ARRAY6>(r, p))) r.raw(v.byteArray6->byteArray6, 6);
      break;
    case FWP_BYTE_BLOB_TYPE:
    case FWP_SECURITY_DESCRIPTOR_TYPE:
    case FWP_TOKEN_ACCESS_INFORMATION_TYPE:
      if ((v.byteBlob = decodePresent<FWP_BYTE_BLOB>(r, p))) decodeBlob(r, p, *v.byteBlob);
      break;
    case FWP_SID:
      if (r.u8()) {
        uint8_t revision = r.u8();
        uint8_t count = r.u8();
        if (count > kMaxSidSubAuthorities) return r.fail();
        // SID ends in SubAuthority[1]: room for `count` of them.
        size_t words = (8 + 4 * static_cast<size_t>(count ? count : 1) + 3) / 4;
        auto* sid = reinterpret_cast<SID*>(p.alloc<uint32_t>(words));
        sid->Revision = revision;
        sid->SubAuthorityCount = count;
        r.raw(sid->IdentifierAuthority.Value, 6);
        for (unsigned i = 0; i < count; ++i) sid->SubAuthority[i] = r.u32();
        v.sid = sid;
      }
      break;
    case FWP_UNICODE_STRING_TYPE: v.unicodeString = decodeString(r, p); break;
    case FWP_V4_ADDR_MASK:
      if (cond && (v.v4AddrMask = decodePresent<FWP_V4_ADDR_AND_MASK>(r, p))) {
        v.v4AddrMask->addr = r.u32();
        v.v4AddrMask->mask = r.u32();
      }
      break;
    case FWP_V6_ADDR_MASK:
      if (cond && (v.v6AddrMask = decodePresent<FWP_V6_ADDR_AND_MASK>(r, p))) {
        r.raw(v.v6AddrMask->addr, 16);
        v.v6AddrMask->prefixLength = r.u8();
      }
      break;
    case FWP_RANGE_TYPE:
      if (cond && (v.rangeValue = decodePresent<FWP_RANGE0>(r, p))) {
        FWP_CONDITION_VALUE0 lo{}, hi{};
        decodeValue(r, p, lo, false);
        decodeValue(r, p, hi, false);
        std::memcpy(&v.rangeValue->valueLow, &lo, sizeof v.rangeValue->valueLow);
        std::memcpy(&v.rangeValue->valueHigh, &hi, sizeof v.rangeValue->valueHigh);
      }
      break;
    default: break;
  }
}

static_assert(sizeof(FWP_VALUE0) == sizeof(FWP_CONDITION_VALUE0));

void encodePlain(Writer& w, const FWP_VALUE0& v) {
  FWP_CONDITION_VALUE0 c{};
  std::memcpy(&c, &v, sizeof v);
  encodeValue(w, c, false);
}

void decodePlain(Reader& r, Packer& p, FWP_VALUE0& v) {
  FWP_CONDITION_VALUE0 c{};
  decodeValue(r, p, c, false);
  std::memcpy(&v, &c, sizeof v);
}

constexpr size_t kMinConditionBytes = 16 + 4 + 4;

}  // namespace

void encodeGuid(Writer& w, const GUID& g) { w.raw(&g, 16); }

GUID decodeGuid(Reader& r) {
  GUID g;
  r.raw(&g, 16);
  return g;
}

// ---- objects --------------------------------------------------------------------------------

void encode(Writer& w, const FWPM_SESSION0& v) {
  encodeGuid(w, v.sessionKey);
  encodeDisplay(w, v.displayData);
  w.u32(v.flags);
  w.u32(v.txnWaitTimeoutInMSec);
  w.u32(v.processId);
  encodeString(w, v.username);
  w.u8(v.kernelMode ? 1 : 0);
}

bool decode(Reader& r, Packer& p, FWPM_SESSION0& v) {
  v.sessionKey = decodeGuid(r);
  decodeDisplay(r, p, v.displayData);
  v.flags = r.u32();
  v.txnWaitTimeoutInMSec = r.u32();
  v.processId = r.u32();
  v.username = decodeString(r, p);
  v.kernelMode = r.u8() ? TRUE : FALSE;
  return r.ok();
}

void encode(Writer& w, const FWPM_PROVIDER0& v) {
  encodeGuid(w, v.providerKey);
  encodeDisplay(w, v.displayData);
  w.u32(v.flags);
  encodeBlob(w, v.providerData);
  encodeString(w, v.serviceName);
}

bool decode(Reader& r, Packer& p, FWPM_PROVIDER0& v) {
  v.providerKey = decodeGuid(r);
  decodeDisplay(r, p, v.displayData);
  v.flags = r.u32();
  decodeBlob(r, p, v.providerData);
  v.serviceName = decodeString(r, p);
  return r.ok();
}

void encode(Writer& w, const FWPM_SUBLAYER0& v) {
  encodeGuid(w, v.subLayerKey);
  encodeDisplay(w, v.displayData);
  w.u32(v.flags);
  encodeOptGuid(w, v.providerKey);
  encodeBlob(w, v.providerData);
  w.u16(v.weight);
}

bool decode(Reader& r, Packer& p, FWPM_SUBLAYER0& v) {
  v.subLayerKey = decodeGuid(r);
  decodeDisplay(r, p, v.displayData);
  v.flags = r.u32();
  v.providerKey = decodeOptGuid(r, p);
  decodeBlob(r, p, v.providerData);
  v.weight = r.u16();
  return r.ok();
}

void encode(Writer& w, const FWPM_CALLOUT0& v) {
  encodeGuid(w, v.calloutKey);
  encodeDisplay(w, v.displayData);
  w.u32(v.flags);
  encodeOptGuid(w, v.providerKey);
  encodeBlob(w, v.providerData);
  encodeGuid(w, v.applicableLayer);
  w.u32(v.calloutId);
}

bool decode(Reader& r, Packer& p, FWPM_CALLOUT0& v) {
  v.calloutKey = decodeGuid(r);
  decodeDisplay(r, p, v.displayData);
  v.flags = r.u32();
  v.providerKey = decodeOptGuid(r, p);
  decodeBlob(r, p, v.providerData);
  v.applicableLayer = decodeGuid(r);
  v.calloutId = r.u32();
  return r.ok();
}

void encode(Writer& w, const FWPM_FILTER0& v) {
  encodeGuid(w, v.filterKey);
  encodeDisplay(w, v.displayData);
  w.u32(v.flags);
  encodeOptGuid(w, v.providerKey);
  encodeBlob(w, v.providerData);
  encodeGuid(w, v.layerKey);
  encodeGuid(w, v.subLayerKey);
  encodePlain(w, v.weight);
  // A count with no array is sent as the count alone: the engine answers FWP_E_NULL_POINTER.
  w.u32(v.numFilterConditions);
  w.u8(v.filterCondition ? 1 : 0);
  if (v.filterCondition) {
    for (UINT32 i = 0; i < v.numFilterConditions; ++i) {
      const FWPM_FILTER_CONDITION0& c = v.filterCondition[i];
      encodeGuid(w, c.fieldKey);
      w.u32(raw32(c.matchType));
      encodeValue(w, c.conditionValue, true);
    }
  }
  w.u32(v.action.type);
  encodeGuid(w, v.action.calloutKey);  // the union's 16 bytes (filterType or calloutKey)
  encodeGuid(w, v.providerContextKey);  // the union's 16 bytes (rawContext in the first 8)
  encodeOptGuid(w, v.reserved);
  w.u64(v.filterId);
  encodePlain(w, v.effectiveWeight);
}

bool decode(Reader& r, Packer& p, FWPM_FILTER0& v) {
  v.filterKey = decodeGuid(r);
  decodeDisplay(r, p, v.displayData);
  v.flags = r.u32();
  v.providerKey = decodeOptGuid(r, p);
  decodeBlob(r, p, v.providerData);
  v.layerKey = decodeGuid(r);
  v.subLayerKey = decodeGuid(r);
  decodePlain(r, p, v.weight);
  v.numFilterConditions = r.u32();
  if (r.u8()) {
    if (!r.countFits(v.numFilterConditions, kMinConditionBytes)) return false;
    v.filterCondition = p.alloc<FWPM_FILTER_CONDITION0>(v.numFilterConditions);
    for (UINT32 i = 0; i < v.numFilterConditions && r.ok(); ++i) {
      FWPM_FILTER_CONDITION0& c = v.filterCondition[i];
      c.fieldKey = decodeGuid(r);
      c.matchType = checkedEnum<FWP_MATCH_TYPE>(r, kMatchTypeLimit);
      decodeValue(r, p, c.conditionValue, true);
    }
  }
  v.action.type = r.u32();
  v.action.calloutKey = decodeGuid(r);
  v.providerContextKey = decodeGuid(r);
  v.reserved = decodeOptGuid(r, p);
  v.filterId = r.u64();
  decodePlain(r, p, v.effectiveWeight);
  return r.ok();
}

// ---- enumeration templates --------------------------------------------------------------------

void encode(Writer& w, const FWPM_FILTER_ENUM_TEMPLATE0& v) {
  encodeOptGuid(w, v.providerKey);
  encodeGuid(w, v.layerKey);
  w.u32(raw32(v.enumType));
  w.u32(v.flags);
  w.u32(v.actionMask);
  encodeOptGuid(w, v.calloutKey);
}

bool decode(Reader& r, Packer& p, FWPM_FILTER_ENUM_TEMPLATE0& v) {
  v.providerKey = decodeOptGuid(r, p);
  v.layerKey = decodeGuid(r);
  v.enumType = checkedEnum<FWP_FILTER_ENUM_TYPE>(r, kEnumTypeLimit);
  v.flags = r.u32();
  v.actionMask = r.u32();
  v.calloutKey = decodeOptGuid(r, p);
  return r.ok();
}

void encode(Writer& w, const FWPM_CALLOUT_ENUM_TEMPLATE0& v) {
  encodeOptGuid(w, v.providerKey);
  encodeGuid(w, v.layerKey);
}

bool decode(Reader& r, Packer& p, FWPM_CALLOUT_ENUM_TEMPLATE0& v) {
  v.providerKey = decodeOptGuid(r, p);
  v.layerKey = decodeGuid(r);
  return r.ok();
}

void encode(Writer& w, const FWPM_SUBLAYER_ENUM_TEMPLATE0& v) { encodeOptGuid(w, v.providerKey); }

bool decode(Reader& r, Packer& p, FWPM_SUBLAYER_ENUM_TEMPLATE0& v) {
  v.providerKey = decodeOptGuid(r, p);
  return r.ok();
}

void encode(Writer& w, const FWPM_PROVIDER_ENUM_TEMPLATE0& v) { w.u64(v.reserved); }

bool decode(Reader& r, Packer&, FWPM_PROVIDER_ENUM_TEMPLATE0& v) {
  v.reserved = r.u64();
  return r.ok();
}

}  // namespace openwfp::um
