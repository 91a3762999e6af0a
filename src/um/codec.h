// um/codec.h - the wire codec of the management calls (SPEC S14.4; docs/control-channel.md
// "Management calls"): FWPM_SESSION0, FWPM_PROVIDER0, FWPM_SUBLAYER0, FWPM_CALLOUT0,
// FWPM_FILTER0 (conditions with every FWP_VALUE0 / FWP_CONDITION_VALUE0 type, display data,
// weight, provider key and data) and the enumeration templates, both ways.
//
// Encoders write every member, a NULL pointer as absent (so the engine's own checks see the
// NULL and answer as fwpmk.h does); they fail only where the wire cannot express the input (a
// blob with a size but no data). Decoders are bounds-checked and lay the object out in one
// malloc'ed block (wire.h decodeBlock); malformed input makes them fail, never read past the
// end or allocate by an unchecked count. Used by both ends: the types are the km headers'.
#pragma once

#include <fwpmtypes.h>
#include <fwptypes.h>

#include "um/wire.h"

namespace openwfp::um {

void encode(Writer& w, const FWPM_SESSION0& v);
void encode(Writer& w, const FWPM_PROVIDER0& v);
void encode(Writer& w, const FWPM_SUBLAYER0& v);
void encode(Writer& w, const FWPM_CALLOUT0& v);
void encode(Writer& w, const FWPM_FILTER0& v);
// Templates: every member the engine's enumeration honours (docs/management-api.md).
void encode(Writer& w, const FWPM_FILTER_ENUM_TEMPLATE0& v);
void encode(Writer& w, const FWPM_CALLOUT_ENUM_TEMPLATE0& v);
void encode(Writer& w, const FWPM_SUBLAYER_ENUM_TEMPLATE0& v);
void encode(Writer& w, const FWPM_PROVIDER_ENUM_TEMPLATE0& v);
void encodeGuid(Writer& w, const GUID& g);
GUID decodeGuid(Reader& r);

// Each decodes one object into `out` (memory it points to from p); false when malformed.
bool decode(Reader& r, Packer& p, FWPM_SESSION0& out);
bool decode(Reader& r, Packer& p, FWPM_PROVIDER0& out);
bool decode(Reader& r, Packer& p, FWPM_SUBLAYER0& out);
bool decode(Reader& r, Packer& p, FWPM_CALLOUT0& out);
bool decode(Reader& r, Packer& p, FWPM_FILTER0& out);
bool decode(Reader& r, Packer& p, FWPM_FILTER_ENUM_TEMPLATE0& out);
bool decode(Reader& r, Packer& p, FWPM_CALLOUT_ENUM_TEMPLATE0& out);
bool decode(Reader& r, Packer& p, FWPM_SUBLAYER_ENUM_TEMPLATE0& out);
bool decode(Reader& r, Packer& p, FWPM_PROVIDER_ENUM_TEMPLATE0& out);

// One object of type T in a block of its own (bytes must hold exactly one). nullptr when
// malformed (or out of memory: *oom).
template <typename T>
T* decodeObject(std::span<const uint8_t> bytes, bool* oom = nullptr) {
  return static_cast<T*>(decodeBlock(
      bytes, [](Reader& r, Packer& p) { return decode(r, p, *p.alloc<T>()); }, oom));
}

// The smallest wire size of one object of each kind (bounds counts before allocation).
inline constexpr size_t kMinObjectBytes = 16;

}  // namespace openwfp::um
