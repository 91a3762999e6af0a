// runtime/records_api.h - the redirect-records functions over the process-wide Runtime's sealer
// and engine (SPEC S8.7, S8.8, S12.2): seal a connection's history as SIO_QUERY returns it, open
// a blob as SIO_SET accepts it, and whether a history is still live. The S9 rules
// (winsock/control_rules) call the RecordsSealer directly; this API is what tests and tools use
// to check those bytes from outside.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "redirect/history.h"
#include "redirect/records.h"

namespace openwfp::runtime {

// Bytes of the sealed SIO-format records of `history` as it is now (what
// SIO_QUERY_WFP_CONNECTION_REDIRECT_RECORDS returns and SIO_SET_... accepts); 0 when the history
// cannot be sealed (more entries than the format holds).
size_t sealedSize(const redirect::History& history);
// Writes the records into out (out.size() >= sealedSize()); returns the bytes written, 0 when they
// do not fit (the history grew meanwhile) or cannot be sealed.
size_t seal(const redirect::History& history, std::span<uint8_t> out);
std::vector<uint8_t> seal(const redirect::History& history);  // empty when it cannot be sealed

struct Opened {
  std::shared_ptr<redirect::History> history;  // nullptr on error
  redirect::OpenError error = redirect::OpenError::None;
  bool live = false;  // the history is the live one of a connection this engine classified
};
// Verifies and opens records passed to SIO_SET (MAC, version, bounds). On success the history is
// the live History of the original connection when it still exists (so the proxy's outbound
// connection sees entries added later, S8.8), otherwise a detached copy of the sealed entries.
Opened open(std::span<const uint8_t> bytes);

// Whether the connection owning `history` is live: classified by this engine, permitted, and not
// yet reported closed (Classifier::connectionClosed).
bool isLive(const redirect::History& history);

}  // namespace openwfp::runtime
