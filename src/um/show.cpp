// um/show.cpp - ManagementService::show (SPEC S14.7): what `netsh wfp show filters` gives a
// Windows user, for filters, callouts, providers and sublayers, as aligned text for people or
// JSON for tools. Read through the engine's own enumeration (fwpmk.h), one session per call.
#include <cinttypes>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "um/names.h"
#include "um/server_state.h"

namespace openwfp::um {

namespace {

using nlohmann::json;

std::string hex64(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%016" PRIx64, v);
  return b;
}

std::string v4Text(uint32_t hostOrder) {
  char b[20];
  std::snprintf(b, sizeof b, "%u.%u.%u.%u", hostOrder >> 24, (hostOrder >> 16) & 0xFF,
                (hostOrder >> 8) & 0xFF, hostOrder & 0xFF);
  return b;
}

std::string v6Text(const UINT8* a) {
  uint16_t g[8];
  for (int i = 0; i < 8; ++i) g[i] = static_cast<uint16_t>(a[2 * i] << 8 | a[2 * i + 1]);
  int best = -1, bestLen = 1;  // the longest run of zero groups (at least two) becomes "::"
  for (int i = 0; i < 8;) {
    int j = i;
    while (j < 8 && g[j] == 0) ++j;
    if (j - i > bestLen) best = i, bestLen = j - i;
    i = j == i ? i + 1 : j;
  }
  std::string out;
  char b[8];
  for (int i = 0; i < 8; ++i) {
    if (i == best) {
      out += "::";
      i += bestLen - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out += ":";
    std::snprintf(b, sizeof b, "%x", g[i]);
    out += b;
  }
  return out;
}

int maskPrefix(uint32_t mask) {  // -1 when not contiguous
  int n = 0;
  while (n < 32 && (mask & (0x80000000u >> n))) ++n;
  return (n == 32 || (mask << n) == 0) ? n : -1;
}

bool isField(const GUID& field, const GUID& known) { return std::memcmp(&field, &known, 16) == 0; }

std::string protocolText(uint32_t p) {
  const char* n = p == 6 ? "tcp" : p == 17 ? "udp" : p == 1 ? "icmp" : p == 58 ? "icmpv6" : nullptr;
  return std::to_string(p) + (n ? std::string(" (") + n + ")" : "");
}

std::string blobText(const FWP_BYTE_BLOB* b, bool wide) {
  if (!b) return "(null)";
  if (wide && b->size % sizeof(wchar_t) == 0 && b->data) {  // app ids: NUL-terminated wchar_t
    std::wstring w(reinterpret_cast<const wchar_t*>(b->data), b->size / sizeof(wchar_t));
    while (!w.empty() && w.back() == L'\0') w.pop_back();
    return utf8(w.c_str());
  }
  std::string out = std::to_string(b->size) + " bytes";
  char h[4];
  for (UINT32 i = 0; i < b->size && i < 32 && b->data; ++i) {
    std::snprintf(h, sizeof h, "%s%02x", i ? "" : " ", b->data[i]);
    out += h;
  }
  return out + (b->size > 32 ? "..." : "");
}

// A value rendered for the field it tests: addresses dotted or in v6 text, masks as a prefix,
// ports and numbers in decimal, protocols named, flags in hex, app ids as paths.
std::string valueText(const GUID& field, const FWP_CONDITION_VALUE0& v) {
  bool address = isField(field, FWPM_CONDITION_IP_REMOTE_ADDRESS) ||
                 isField(field, FWPM_CONDITION_IP_LOCAL_ADDRESS);
  bool flags = isField(field, FWPM_CONDITION_FLAGS);
  bool app = isField(field, FWPM_CONDITION_ALE_APP_ID) ||
             isField(field, FWPM_CONDITION_ALE_ORIGINAL_APP_ID);
  char b[32];
  switch (v.type) {
    case FWP_EMPTY: return "(empty)";
    case FWP_UINT8:
      return isField(field, FWPM_CONDITION_IP_PROTOCOL) ? protocolText(v.uint8) : std::to_string(v.uint8);
    case FWP_UINT16: return std::to_string(v.uint16);
    case FWP_UINT32:
      if (address) return v4Text(v.uint32);
      if (flags) {
        std::snprintf(b, sizeof b, "0x%08x", v.uint32);
        return b;
      }
      return std::to_string(v.uint32);
    case FWP_UINT64: return v.uint64 ? std::to_string(*v.uint64) : "(null)";
    case FWP_INT8: return std::to_string(v.int8);
    case FWP_INT16: return std::to_string(v.int16);
    case FWP_INT32: return std::to_string(v.int32);
    case FWP_INT64: return v.int64 ? std::to_string(*v.int64) : "(null)";
    case FWP_BYTE_ARRAY16_TYPE: return v.byteArray16 ? v6Text(v.byteArray16->byteArray16) : "(null)";
    case FWP_BYTE_BLOB_TYPE:
    case FWP_SECURITY_DESCRIPTOR_TYPE: return blobText(v.byteBlob, app);
    case FWP_UNICODE_STRING_TYPE: return utf8(v.unicodeString);
    case FWP_V4_ADDR_MASK: {
      if (!v.v4AddrMask) return "(null)";
      int prefix = maskPrefix(v.v4AddrMask->mask);
      if (prefix >= 0) return v4Text(v.v4AddrMask->addr) + "/" + std::to_string(prefix);
      return v4Text(v.v4AddrMask->addr) + " mask " + v4Text(v.v4AddrMask->mask);
    }
    case FWP_V6_ADDR_MASK:
      if (!v.v6AddrMask) return "(null)";
      return v6Text(v.v6AddrMask->addr) + "/" + std::to_string(v.v6AddrMask->prefixLength);
    case FWP_RANGE_TYPE: {
      if (!v.rangeValue) return "(null)";
      FWP_CONDITION_VALUE0 lo{}, hi{};
      std::memcpy(&lo, &v.rangeValue->valueLow, sizeof v.rangeValue->valueLow);
      std::memcpy(&hi, &v.rangeValue->valueHigh, sizeof v.rangeValue->valueHigh);
      return valueText(field, lo) + " - " + valueText(field, hi);
    }
    default: return dataTypeName(v.type);
  }
}

std::string weightText(const FWP_VALUE0& w) {
  switch (w.type) {
    case FWP_EMPTY: return "automatic";
    case FWP_UINT8: return "range " + std::to_string(w.uint8) + " + automatic";
    case FWP_UINT64: return w.uint64 ? hex64(*w.uint64) : "(null)";
    default: return dataTypeName(w.type);
  }
}

uint64_t effective(const FWP_VALUE0& w) { return w.type == FWP_UINT64 && w.uint64 ? *w.uint64 : 0; }

// "name (key)" of the object a key names, looked up in the engine; the key alone when unknown.
struct Namer {
  HANDLE session;
  std::string subLayer(const GUID& k) const {
    FWPM_SUBLAYER0* s = nullptr;
    return named(k, FwpmSubLayerGetByKey0(session, &k, &s) == STATUS_SUCCESS ? s : nullptr);
  }
  std::string provider(const GUID& k) const {
    FWPM_PROVIDER0* p = nullptr;
    return named(k, FwpmProviderGetByKey0(session, &k, &p) == STATUS_SUCCESS ? p : nullptr);
  }
  std::string callout(const GUID& k) const {
    FWPM_CALLOUT0* c = nullptr;
    return named(k, FwpmCalloutGetByKey0(session, &k, &c) == STATUS_SUCCESS ? c : nullptr);
  }
  template <typename T>
  static std::string named(const GUID& k, T* obj) {
    if (const char* known = knownGuidName(k)) {  // built-in sublayers and providers: SDK names
      if (obj) FwpmFreeMemory0(reinterpret_cast<void**>(&obj));
      return known;
    }
    std::string name = obj ? utf8(obj->displayData.name) : "";
    if (obj) FwpmFreeMemory0(reinterpret_cast<void**>(&obj));
    if (name.empty()) return guidName(k);
    return name + " (" + guidString(k) + ")";
  }
};

void line(std::string& out, const char* label, const std::string& value) {
  char b[24];
  std::snprintf(b, sizeof b, "  %-18s", label);
  out += b + value + "\n";
}

void showFilter(std::string& text, json& j, const FWPM_FILTER0& f, const Namer& n, bool asJson) {
  bool callout = (f.action.type & FWP_ACTION_FLAG_CALLOUT) != 0;
  std::string provider = f.providerKey ? n.provider(*f.providerKey) : "";
  if (asJson) {
    json conds = json::array();
    for (UINT32 i = 0; i < f.numFilterConditions; ++i) {
      const auto& c = f.filterCondition[i];
      conds.push_back({{"field", guidName(c.fieldKey)}, {"fieldKey", guidString(c.fieldKey)},
                       {"match", matchName(c.matchType)},
                       {"type", dataTypeName(c.conditionValue.type)},
                       {"value", valueText(c.fieldKey, c.conditionValue)}});
    }
    json o = {{"id", f.filterId}, {"key", guidString(f.filterKey)},
              {"name", utf8(f.displayData.name)}, {"description", utf8(f.displayData.description)},
              {"layer", guidName(f.layerKey)}, {"layerKey", guidString(f.layerKey)},
              {"subLayer", n.subLayer(f.subLayerKey)}, {"subLayerKey", guidString(f.subLayerKey)},
              {"weight", weightText(f.weight)}, {"effectiveWeight", hex64(effective(f.effectiveWeight))},
              {"action", actionName(f.action.type)}, {"flags", filterFlagNames(f.flags)},
              {"conditions", conds}};
    if (callout) {
      o["calloutKey"] = guidString(f.action.calloutKey);
      o["callout"] = n.callout(f.action.calloutKey);
    }
    if (f.providerKey) {
      o["providerKey"] = guidString(*f.providerKey);
      o["provider"] = provider;
    }
    j.push_back(std::move(o));
    return;
  }
  text += "Filter " + std::to_string(f.filterId) + "  " + guidString(f.filterKey) + "  \"" +
          utf8(f.displayData.name) + "\"\n";
  if (f.displayData.description) line(text, "description", utf8(f.displayData.description));
  line(text, "layer", guidName(f.layerKey));
  line(text, "sublayer", n.subLayer(f.subLayerKey));
  line(text, "weight", weightText(f.weight));
  line(text, "effective weight", hex64(effective(f.effectiveWeight)));
  line(text, "action", actionName(f.action.type));
  if (callout) line(text, "callout", n.callout(f.action.calloutKey));
  if (f.providerKey) line(text, "provider", provider);
  line(text, "flags", filterFlagNames(f.flags));
  line(text, "conditions", f.numFilterConditions ? std::to_string(f.numFilterConditions) : "none");
  size_t fieldWidth = 0, matchWidth = 0;
  for (UINT32 i = 0; i < f.numFilterConditions; ++i) {
    fieldWidth = std::max(fieldWidth, guidName(f.filterCondition[i].fieldKey).size());
    matchWidth = std::max(matchWidth, matchName(f.filterCondition[i].matchType).size());
  }
  for (UINT32 i = 0; i < f.numFilterConditions; ++i) {
    const auto& c = f.filterCondition[i];
    std::string field = guidName(c.fieldKey), match = matchName(c.matchType);
    text += "    " + field + std::string(fieldWidth - field.size() + 2, ' ') + match +
            std::string(matchWidth - match.size() + 2, ' ') + valueText(c.fieldKey, c.conditionValue) +
            "\n";
  }
}

void showCallout(std::string& text, json& j, const FWPM_CALLOUT0& c, const Namer& n, bool asJson) {
  std::string provider = c.providerKey ? n.provider(*c.providerKey) : "";
  if (asJson) {
    json o = {{"id", c.calloutId}, {"key", guidString(c.calloutKey)},
              {"name", utf8(c.displayData.name)}, {"description", utf8(c.displayData.description)},
              {"layer", guidName(c.applicableLayer)}, {"flags", c.flags}};
    if (c.providerKey) o["provider"] = provider;
    j.push_back(std::move(o));
    return;
  }
  text += "Callout " + std::to_string(c.calloutId) + "  " + guidString(c.calloutKey) + "  \"" +
          utf8(c.displayData.name) + "\"\n";
  line(text, "layer", guidName(c.applicableLayer));
  if (c.providerKey) line(text, "provider", provider);
  char b[16];
  std::snprintf(b, sizeof b, "0x%08x", c.flags);
  line(text, "flags", b);
}

void showProvider(std::string& text, json& j, const FWPM_PROVIDER0& p, const Namer&, bool asJson) {
  if (asJson) {
    j.push_back({{"key", guidString(p.providerKey)}, {"name", utf8(p.displayData.name)},
                 {"description", utf8(p.displayData.description)}, {"flags", p.flags},
                 {"serviceName", utf8(p.serviceName)}, {"dataBytes", p.providerData.size}});
    return;
  }
  text += "Provider " + guidString(p.providerKey) + "  \"" + utf8(p.displayData.name) + "\"\n";
  line(text, "flags", (p.flags & FWPM_PROVIDER_FLAG_PERSISTENT) ? "persistent" : "none");
  if (p.serviceName) line(text, "service", utf8(p.serviceName));
}

void showSubLayer(std::string& text, json& j, const FWPM_SUBLAYER0& s, const Namer& n, bool asJson) {
  std::string provider = s.providerKey ? n.provider(*s.providerKey) : "";
  const char* builtin = knownGuidName(s.subLayerKey);
  std::string name = utf8(s.displayData.name);
  if (name.empty() && builtin) name = builtin;
  if (asJson) {
    json o = {{"key", guidString(s.subLayerKey)}, {"name", name}, {"weight", s.weight},
              {"flags", s.flags}};
    if (s.providerKey) o["provider"] = provider;
    j.push_back(std::move(o));
    return;
  }
  text += "Sublayer " + guidString(s.subLayerKey) + "  \"" + name + "\"\n";
  line(text, "weight", std::to_string(s.weight));
  if (s.providerKey) line(text, "provider", provider);
  line(text, "flags", (s.flags & FWPM_SUBLAYER_FLAG_PERSISTENT) ? "persistent" : "none");
}

template <Kind K, typename Show>
std::string render(const char* plural, bool asJson, Show&& show) {
  HANDLE session = nullptr;
  if (FwpmEngineOpen0(nullptr, RPC_C_AUTHN_WINNT, nullptr, nullptr, &session) != STATUS_SUCCESS)
    return asJson ? json{{"error", "no engine session"}}.dump() + "\n"
                  : "openwfp: show: no engine session\n";
  Namer namer{session};
  std::string text;
  json items = json::array();
  size_t count = 0;
  forEachObject<K>(session, [&](const auto& obj) {
    show(text, items, obj, namer, asJson);
    ++count;
  });
  FwpmEngineClose0(session);
  if (asJson) return json{{plural, items}}.dump(2) + "\n";
  return std::to_string(count) + " " + plural + "\n" + text;
}

}  // namespace

std::string ManagementService::show(std::string_view kind, bool asJson) {
  if (kind == "filters") return render<Kind::Filter>("filters", asJson, showFilter);
  if (kind == "callouts") return render<Kind::Callout>("callouts", asJson, showCallout);
  if (kind == "providers") return render<Kind::Provider>("providers", asJson, showProvider);
  if (kind == "sublayers") return render<Kind::SubLayer>("sublayers", asJson, showSubLayer);
  std::string msg = "openwfp: show: unknown kind '" + std::string(kind) +
                    "' (filters, callouts, providers, sublayers)";
  return asJson ? json{{"error", msg}}.dump() + "\n" : msg + "\n";
}

}  // namespace openwfp::um
