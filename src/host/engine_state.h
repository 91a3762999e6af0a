// host/engine_state.h - `openwfp show state` (S14.7): what the running engine holds, as JSON for
// tools and as text for people (what `netsh wfp show state` gives a Windows user).
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "host/attached_sessions.h"

namespace openwfp::host {

struct EngineStateInputs {
  std::string socket;
  std::chrono::system_clock::time_point started;
  nlohmann::json drivers;  // [{name, path}]
  std::vector<SessionInfo> sessions;
};

// {engine, drivers, callouts, sessions, devices, classifies, counters} (docs/running-as-a-service.md).
nlohmann::json engineState(const EngineStateInputs& in);
std::string renderEngineState(const nlohmann::json& state);

}  // namespace openwfp::host
