// host/engine_client.h - the CLI's side of the engine service: `openwfp driver load|unload|list`,
// `openwfp show state`, and `openwfp run --attach` (S14.2, S14.3, S14.7). Each prints what the
// user needs (one line on error) and returns the exit status.
#pragma once

#include <string>

#include "host/run_session.h"

namespace openwfp::host {

int driverLoadCommand(const std::string& file);
int driverUnloadCommand(const std::string& name);
int driverListCommand(bool json);
int showStateCommand(bool json);
int showObjectsCommand(const std::string& kind, bool json);
int policyLoadCommand(const std::string& file);
int policyUnloadCommand();

// Starts COMMAND under the filter and hands its listener to the engine (RunOptions::attach);
// waits first for options.waitForDevice to have a proxy when set. Returns COMMAND's status, or
// 1 when the engine went away while it ran (after saying so).
int runAttached(const RunOptions& options);

// Whether `openwfp run` attaches: --attach, or OPENWFP_ENGINE set (unless --standalone).
bool attachByDefault();

}  // namespace openwfp::host
