// openwfp - command line entry point. Each subcommand lives in its own cmd_*.cpp file and
// registers itself through commands.h.
#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>

#include "commands.h"

int main(int argc, char** argv) {
  // Log lines (driver DbgPrint, engine notes) go to stderr: stdout carries the command's output.
  spdlog::set_default_logger(spdlog::stderr_color_mt("openwfp"));
  CLI::App app{"openwfp - run Windows Filtering Platform redirect callout drivers on Linux"};
  app.set_version_flag("--version", "openwfp 0.1.0");
  app.require_subcommand(1);
  int exitCode = 0;
  for (const auto& add : openwfp::cli::commandRegistry()) add(app, exitCode);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);  // prints help/version (rc 0) or the error message
    return rc == 0 ? 0 : 2;
  }
  return exitCode;
}
