// openwfp - command line entry point (openwfp_cli_main, called by entry/openwfp.c). Each
// subcommand lives in its own cmd_*.cpp file and registers itself through commands.h.
//
// Logs (driver DbgPrint, engine notes, verifier findings) go to stderr only (S16.4): stdout
// carries the command's output. Level: -q (errors only), -v (debug), -vv (trace), else
// OPENWFP_LOG (error, warn, info, debug, trace; default info). NO_COLOR (any value) turns the
// colours off, as do a stderr that is not a terminal.
#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "commands.h"
#include "openwfp/cli.h"
#include "openwfp/version.h"

namespace {

size_t editDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// "unknown command 'frobnicate'" with the closest name and the list, or "" when argv names a
// known command (or none: CLI11 then explains).
std::string unknownCommand(const CLI::App& app, int argc, char** argv) {
  std::string word;
  for (int i = 1; i < argc; ++i) {
    if (argv[i][0] == '-') continue;  // global options take no value
    word = argv[i];
    break;
  }
  if (word.empty()) return "";
  std::vector<std::string> names;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App* s) { return !s->get_group().empty(); }))
    names.push_back(sub->get_name());
  if (std::find(names.begin(), names.end(), word) != names.end()) return "";
  for (const CLI::App* sub : app.get_subcommands({}))
    if (sub->get_name() == word) return "";  // a hidden (internal) command
  std::sort(names.begin(), names.end());
  std::string best;
  size_t bestDistance = 3;  // suggest only close names
  for (const auto& n : names) {
    size_t d = editDistance(word, n);
    if (d < bestDistance || (n.rfind(word, 0) == 0 && word.size() >= 2 && best.empty())) {
      bestDistance = std::min(d, bestDistance);
      best = n;
    }
  }
  std::string msg = "openwfp: unknown command '" + word + "'";
  if (!best.empty()) msg += " (did you mean '" + best + "'?)";
  msg += "; commands:";
  for (const auto& n : names) msg += " " + n;
  return msg;
}

spdlog::level::level_enum logLevel(int quiet, int verbose, std::string* error) {
  if (quiet > 0) return spdlog::level::err;
  if (verbose >= 2) return spdlog::level::trace;
  if (verbose == 1) return spdlog::level::debug;
  const char* env = std::getenv("OPENWFP_LOG");
  if (env == nullptr || *env == '\0') return spdlog::level::info;
  std::string v = env;
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
  if (v == "error") return spdlog::level::err;
  if (v == "warn" || v == "warning") return spdlog::level::warn;
  if (v == "info") return spdlog::level::info;
  if (v == "debug") return spdlog::level::debug;
  if (v == "trace") return spdlog::level::trace;
  *error = "openwfp: OPENWFP_LOG='" + std::string(env) + "': expected error, warn, info, debug or trace";
  return spdlog::level::info;
}

}  // namespace

extern "C" int openwfp_cli_main(int argc, char** argv) {
  const char* noColor = std::getenv("NO_COLOR");
  const bool color = noColor == nullptr || *noColor == '\0';
  spdlog::set_default_logger(
      spdlog::stderr_color_mt("openwfp", color ? spdlog::color_mode::automatic : spdlog::color_mode::never));
  CLI::App app{"openwfp - run Windows Filtering Platform redirect callout drivers on Linux"};
  app.set_version_flag("--version", "openwfp " OPENWFP_VERSION_STRING);
  app.require_subcommand(1);
  app.footer("Exit status: 0 success, 1 failure, 2 bad usage, 3 --fail-on-violation found a violation.\n"
             "Logs go to stderr; OPENWFP_LOG=error|warn|info|debug|trace, NO_COLOR. Manual: openwfp(1).");
  int quietFlags = 0, verboseFlags = 0;  // counted again below, before parsing
  app.add_flag("-q,--quiet", quietFlags, "Log errors only");
  app.add_flag("-v,--verbose", verboseFlags, "Log debug messages (twice: trace)");
  int exitCode = 0;
  for (const auto& add : openwfp::cli::commandRegistry()) add(app, exitCode);
  if (std::string msg = unknownCommand(app, argc, argv); !msg.empty()) {
    std::fprintf(stderr, "%s\n", msg.c_str());
    return 2;
  }
  // The level is set before any command runs: -q/-v are the options before the command's name.
  int q = 0, v = 0;
  for (int i = 1; i < argc && argv[i][0] == '-'; ++i) {
    const std::string a = argv[i];
    if (a == "-q" || a == "--quiet") ++q;
    if (a == "-v" || a == "--verbose") ++v;
    if (a == "-vv") v += 2;
  }
  std::string levelError;
  spdlog::set_level(logLevel(q, v, &levelError));
  if (!levelError.empty()) {
    std::fprintf(stderr, "%s\n", levelError.c_str());
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);  // prints help/version (rc 0) or the error message
    return rc == 0 ? 0 : 2;
  }
  return exitCode;
}
