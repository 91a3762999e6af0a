// `openwfp driver load FILE.so | unload NAME | list [--json]`: drivers in the running engine
// service (SPEC S14.2).
#include <memory>
#include <string>

#include "commands.h"
#include "host/engine_client.h"

namespace {

openwfp::cli::RegisterCommand reg([](CLI::App& app, int& exitCode) {
  auto* cmd = app.add_subcommand("driver", "Load, unload and list callout drivers in the running engine");
  cmd->require_subcommand(1);
  auto file = std::make_shared<std::string>();
  auto* load = cmd->add_subcommand("load", "Load a driver (DriverEntry runs in the engine)");
  load->add_option("file", *file, "The driver's shared object")->required();
  load->callback([file, &exitCode] { exitCode = openwfp::host::driverLoadCommand(*file); });
  auto name = std::make_shared<std::string>();
  auto* unload = cmd->add_subcommand("unload", "Unload a driver (DriverUnload, then its leak report)");
  unload->add_option("name", *name, "The driver's name (as `driver list` shows it)")->required();
  unload->callback([name, &exitCode] { exitCode = openwfp::host::driverUnloadCommand(*name); });
  auto json = std::make_shared<bool>(false);
  auto* list = cmd->add_subcommand("list", "List the loaded drivers");
  list->add_flag("--json", *json, "JSON for tools");
  list->callback([json, &exitCode] { exitCode = openwfp::host::driverListCommand(*json); });
});

}  // namespace
