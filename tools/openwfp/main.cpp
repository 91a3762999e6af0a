// openwfp - command line entry point (openwfp_cli_main, called by entry/openwfp.c). Each subcommand lives in its own cmd_*.cpp file and
// registers itself through commands.h.
#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>

#include "commands.h"
#include "openwfp/cli.h"
#include "openwfp/version.h"

extern "C" int openwfp_cli_main(int argc, char** argv) {
  // Log lines (driver DbgPrint, engine notes) go to stderr: stdout carries the command's output.
  spdlog::set_default_logger(spdlog::stderr_color_mt("openwfp"));
  CLI::App app{"openwfp - run Windows Filtering Platform redirect callout drivers on Linux"};
  app.set_version_flag("--version", "openwfp " OPENWFP_VERSION_STRING);
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
