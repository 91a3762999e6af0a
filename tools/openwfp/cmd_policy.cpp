// `openwfp policy check FILE`: parses a rules file (docs/policy.md), loads it into the built-in
// policy driver in a private engine and prints the filters the rules became (layer, weight,
// conditions, action), one line each. A bad file: its one-line error on stderr, exit 1.
// `openwfp policy load FILE` / `openwfp policy unload`: the same rules in the running engine
// service (docs/running-as-a-service.md), for every attached session.
#include <cstdio>
#include <memory>
#include <string>

#include "commands.h"
#include "host/engine_client.h"
#include "host/policy_session.h"
#include "openwfp/openwfp.h"
#include <spdlog/spdlog.h>

namespace {

int check(const std::string& file) {
  auto parsed = openwfp::policy::parseFile(file);
  if (!parsed) {
    std::fprintf(stderr, "%s\n", parsed.error.c_str());
    return 1;
  }
  spdlog::set_level(spdlog::level::warn);  // the driver's load lines are not the output
  openwfp::Runtime::reset();
  openwfp::host::DriverHost drivers;
  if (auto err = openwfp::host::loadPolicy(drivers, *parsed.policy); !err.empty()) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return 1;
  }
  const auto& rules = parsed.policy->rules;
  std::printf("%s: %zu rule%s\n", file.c_str(), rules.size(), rules.size() == 1 ? "" : "s");
  for (size_t i = 0; i < rules.size(); ++i)
    std::printf("  rule %zu (line %u): %s\n", i + 1, rules[i].line, rules[i].summary().c_str());
  auto lines = openwfp::host::describePolicyFilters(*parsed.policy);
  std::printf("filters (evaluation order; the first that matches decides):\n");
  for (const auto& l : lines) std::printf("  %s\n", l.c_str());
  drivers.unloadAll();
  return 0;
}

openwfp::cli::RegisterCommand reg([](CLI::App& app, int& exitCode) {
  auto* cmd = app.add_subcommand("policy", "Rules files (docs/policy.md)");
  cmd->require_subcommand(1);
  auto file = std::make_shared<std::string>();
  auto* chk = cmd->add_subcommand("check", "Parse FILE and print the filters its rules become");
  chk->add_option("file", *file, "Rules file (TOML)")->required();
  chk->callback([file, &exitCode] { exitCode = check(*file); });
  auto* load = cmd->add_subcommand("load", "Load FILE's rules into the running engine (replacing earlier ones)");
  load->add_option("file", *file, "Rules file (TOML)")->required()->check(CLI::ExistingFile);
  load->callback([file, &exitCode] { exitCode = openwfp::host::policyLoadCommand(*file); });
  auto* unload = cmd->add_subcommand("unload", "Remove the rules from the running engine");
  unload->callback([&exitCode] { exitCode = openwfp::host::policyUnloadCommand(); });
});

}  // namespace
