// openwfp/verifier.h: the verifier's findings of the current runtime, for tests of a callout
// (SPEC S16.2), in C and C++.
#include "openwfp/verifier.h"


#include "openwfp/openwfp.h"
#include "verifier/verifier.h"

namespace openwfp::verify {
namespace {

Violation fromInternal(const verifier::Violation& v) {
  return Violation{verifier::toString(v.code), v.message, v.driver, v.callout, v.filterId};
}

// The snapshot openwfp_verifier_get() hands out pointers into (per thread).
thread_local std::vector<Violation> cSnapshot;

}  // namespace

std::string Violation::str() const {
  std::string s = code;
  if (!driver.empty()) s += " [" + driver + "]";
  return s + ": " + message;
}

std::vector<Violation> violations() {
  std::vector<Violation> out;
  for (const auto& v : Runtime::current().verifier().violations()) out.push_back(fromInternal(v));
  return out;
}

size_t violationCount(std::string_view code) {
  size_t n = 0;
  for (const auto& v : Runtime::current().verifier().violations())
    if (code.empty() || code == verifier::toString(v.code)) ++n;
  return n;
}

void clearViolations() { Runtime::current().verifier().clear(); }

std::string describeViolations() {
  std::string out;
  for (const auto& v : violations()) out += v.str() + "\n";
  return out;
}

}  // namespace openwfp::verify

extern "C" {

size_t openwfp_verifier_count(void) { return openwfp::verify::violationCount(); }

size_t openwfp_verifier_count_code(const char* code) {
  if (code == nullptr || *code == '\0') return 0;
  return openwfp::verify::violationCount(code);
}

int openwfp_verifier_get(size_t index, openwfp_violation* out) {
  auto& snap = openwfp::verify::cSnapshot;
  snap = openwfp::verify::violations();
  if (out == nullptr || index >= snap.size()) return -1;
  const auto& v = snap[index];
  out->code = v.code.c_str();
  out->message = v.message.c_str();
  out->driver = v.driver.c_str();
  out->callout = v.callout.c_str();
  out->filter_id = v.filterId;
  return 0;
}

void openwfp_verifier_clear(void) {
  openwfp::verify::clearViolations();
  openwfp::verify::cSnapshot.clear();
}

void openwfp_verifier_set_enabled(int on) { openwfp::Runtime::current().verifier().setEnabled(on != 0); }

}  // extern "C"
