// runtime/records_api.cpp - see records_api.h.
#include "runtime/records_api.h"

#include "engine/engine.h"
#include "openwfp/openwfp.h"
#include "redirect/records.h"

namespace openwfp::runtime {

size_t sealedSize(const redirect::History& history) {
  return Runtime::current().sealer().sealedSize(history);
}

size_t seal(const redirect::History& history, std::span<uint8_t> out) {
  return Runtime::current().sealer().seal(history, out);
}

std::vector<uint8_t> seal(const redirect::History& history) {
  return Runtime::current().sealer().seal(history);
}

Opened open(std::span<const uint8_t> bytes) {
  Opened o;
  o.history = Runtime::current().sealer().open(bytes, &o.error);
  if (!o.history) return o;
  o.error = redirect::OpenError::None;
  o.live = Runtime::current().engine().connectionLive(o.history->id());
  return o;
}

bool isLive(const redirect::History& history) {
  return Runtime::current().engine().connectionLive(history.id());
}

}  // namespace openwfp::runtime
