// `openwfp show state|filters|callouts|providers|sublayers [--json]`: what the running engine
// service holds (SPEC S14.7), as `netsh wfp show state|filters` shows it on Windows.
#include <memory>
#include <string>

#include "commands.h"
#include "host/engine_client.h"

namespace {

openwfp::cli::RegisterCommand reg([](CLI::App& app, int& exitCode) {
  auto* cmd = app.add_subcommand("show", "Show the running engine's state or objects");
  cmd->require_subcommand(1);
  auto json = std::make_shared<bool>(false);
  auto* state = cmd->add_subcommand("state", "Drivers, callouts, sessions, devices, pended classifies, verdicts");
  state->add_flag("--json", *json, "JSON for tools");
  state->callback([json, &exitCode] { exitCode = openwfp::host::showStateCommand(*json); });
  for (const char* kind : {"filters", "callouts", "providers", "sublayers"}) {
    auto* sub = cmd->add_subcommand(kind, std::string("The engine's ") + kind + " (as netsh wfp show " + kind + ")");
    sub->add_flag("--json", *json, "JSON for tools");
    sub->callback([kind, json, &exitCode] { exitCode = openwfp::host::showObjectsCommand(kind, *json); });
  }
});

}  // namespace
