// tools/openwfp/commands.h - how subcommands register with the CLI.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace openwfp::cli {

// A subcommand adder: creates its CLI::App subcommand and sets `exitCode` from its callback.
using AddCommand = std::function<void(CLI::App& app, int& exitCode)>;

inline std::vector<AddCommand>& commandRegistry() {
  static std::vector<AddCommand> registry;
  return registry;
}

// Absolute path of the running openwfp executable (for starting child processes of itself).
std::string selfPath();

struct RegisterCommand {
  explicit RegisterCommand(AddCommand add) { commandRegistry().push_back(std::move(add)); }
};

}  // namespace openwfp::cli
