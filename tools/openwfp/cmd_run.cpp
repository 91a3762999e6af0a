// `openwfp run [--driver D.so ...] [--policy FILE] [--verifier] [--trace FILE] [--pend-timeout S]
//              [--block-errno E] -- COMMAND ARGS`
// Runs COMMAND (and its threads and descendants) with every IPv4/IPv6 connect() and bind()
// classified by the loaded callout drivers (SPEC S13). Exit status is COMMAND's.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "commands.h"
#include "host/run_session.h"

namespace {

int parseErrno(const std::string& text) {
  static const std::pair<const char*, int> names[] = {
      {"ECONNREFUSED", ECONNREFUSED}, {"EACCES", EACCES},           {"EPERM", EPERM},
      {"ENETUNREACH", ENETUNREACH},   {"EHOSTUNREACH", EHOSTUNREACH}, {"ETIMEDOUT", ETIMEDOUT},
      {"ECONNRESET", ECONNRESET}};
  for (const auto& [name, value] : names)
    if (text == name) return value;
  char* end = nullptr;
  long v = std::strtol(text.c_str(), &end, 10);
  if (end && *end == '\0' && v > 0 && v < 4096) return static_cast<int>(v);
  return -1;
}

openwfp::cli::RegisterCommand reg([](CLI::App& app, int& exitCode) {
  auto opts = std::make_shared<openwfp::host::RunOptions>();
  auto blockErrno = std::make_shared<std::string>("ECONNREFUSED");
  auto* cmd = app.add_subcommand("run", "Run COMMAND with its connect()/bind() calls classified by callout drivers");
  cmd->add_option("--driver", opts->drivers, "Callout driver shared object to load (repeatable)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--policy", opts->policyFile, "Rules file (TOML, docs/policy.md) enforced by the built-in policy driver")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--verifier", opts->verifier, "Report driver API misuse (S11) on stderr");
  cmd->add_option("--trace", opts->traceFile, "Write one JSON line per classify to FILE");
  cmd->add_option("--pend-timeout", opts->pendTimeoutSeconds, "Seconds before a pended classify is blocked (0 = never)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--block-errno", *blockErrno, "errno a blocked connect fails with (name or number)")
      ->capture_default_str();
  cmd->add_option("command", opts->command, "COMMAND [ARGS...] (after --)")->required();
  cmd->positionals_at_end();
  cmd->callback([opts, blockErrno, &exitCode] {
    int e = parseErrno(*blockErrno);
    if (e < 0) {
      std::fprintf(stderr, "openwfp run: --block-errno: unknown errno '%s'\n", blockErrno->c_str());
      exitCode = 2;
      return;
    }
    opts->blockErrno = e;
    exitCode = openwfp::host::runCommand(*opts);
  });
});

}  // namespace
