// fuzz/um_codec_fuzz.cpp - the management wire codec (src/um/codec.cpp, SPEC S14.4): the first
// byte picks the object kind, the rest is decoded as one object. Properties: decoding never reads
// past the input (ASan) and either fails or gives an object whose encoding decodes again and
// re-encodes to the same bytes (nothing the decoder accepts is half-built).
#include <cstdio>
#include <cstdlib>

#include "um/codec.h"

using namespace openwfp::um;

namespace {

template <typename T>
void check(std::span<const uint8_t> bytes) {
  T* first = decodeObject<T>(bytes);
  if (!first) return;
  Writer w1;
  encode(w1, *first);
  std::free(first);
  if (!w1.ok()) return;  // e.g. a SID count the encoder refuses: nothing to compare
  T* second = decodeObject<T>(w1.bytes());
  if (!second) {
    std::fprintf(stderr, "um_codec_fuzz: a re-encoded object does not decode\n");
    std::abort();
  }
  Writer w2;
  encode(w2, *second);
  std::free(second);
  if (w2.bytes() != w1.bytes()) {
    std::fprintf(stderr, "um_codec_fuzz: encode(decode(encode(x))) differs from encode(x)\n");
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::span<const uint8_t> rest(data + 1, size - 1);
  switch (data[0] % 9) {
    case 0: check<FWPM_FILTER0>(rest); break;
    case 1: check<FWPM_PROVIDER0>(rest); break;
    case 2: check<FWPM_SUBLAYER0>(rest); break;
    case 3: check<FWPM_CALLOUT0>(rest); break;
    case 4: check<FWPM_SESSION0>(rest); break;
    case 5: check<FWPM_FILTER_ENUM_TEMPLATE0>(rest); break;
    case 6: check<FWPM_CALLOUT_ENUM_TEMPLATE0>(rest); break;
    case 7: check<FWPM_SUBLAYER_ENUM_TEMPLATE0>(rest); break;
    default: check<FWPM_PROVIDER_ENUM_TEMPLATE0>(rest); break;
  }
  return 0;
}
