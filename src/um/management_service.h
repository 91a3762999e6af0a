// um/management_service.h - the engine side of the user-mode management API (SPEC S14.4-S14.7;
// docs/management-api.md): runs the fwpmu.h calls that arrive as service frames
// (control::kServiceManagement) through the in-process Fwpm* functions of fwpmk.h, so every
// check of the C ABI applies; keeps per client connection its engine sessions, transactions and
// enumeration handles; saves and restores the persistent objects; renders `openwfp show`.
//
// Thread-safe: each client connection calls handle() from its own thread; calls of different
// connections run in parallel (one mutex per connection, one for the state file). It acts on
// Runtime::current(): destroy it (its destructor closes every session it holds) before the
// Runtime goes.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "openwfp/control.h"

namespace openwfp::um {

struct ManagementOptions {
  uint32_t engineUid = 0;  // with root, the only uid allowed to call (S14.6)
  std::string stateDir;    // where objects.bin lives; "" = no persistence
};

class ManagementService {
 public:
  explicit ManagementService(ManagementOptions options);
  ~ManagementService();
  ManagementService(const ManagementService&) = delete;
  ManagementService& operator=(const ManagementService&) = delete;

  // At engine start: adds the saved persistent objects back (one transaction, a non-dynamic
  // session). nullopt when there was nothing to restore or all went back; else the one error
  // line (the file is set aside as objects.bin.corrupt-<unix time>; the engine starts empty).
  std::optional<std::string> restore();

  // One management call (request.service == control::kServiceManagement). status: NTSTATUS.
  control::ServiceResult handle(control::ServiceRequest& request);

  // The client connection went away: its engine sessions close (a dynamic session's objects
  // vanish), open transactions abort, enumeration handles go.
  void connectionClosed(uint64_t connection);

  // `openwfp show filters|callouts|providers|sublayers [--json]` (S14.7). An unknown kind gives
  // one line "openwfp: show: unknown kind ..." (JSON: {"error": ...}).
  std::string show(std::string_view kind, bool json);

  // The state file's path ("" without persistence).
  std::string statePath() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace openwfp::um
