// tests/support/fuzz_replay.h - what the replay tests of the fuzz targets share: the seed corpus
// of a target (fuzz/seeds/<target>/) kept equal to the named seeds its properties header
// builds, and a deterministic random corpus (fresh inputs and mutants of the seeds).
//
// OPENWFP_WRITE_FUZZ_SEEDS=1 in the environment makes a replay test (re)write the seed files
// from the named seeds, e.g.
//   OPENWFP_WRITE_FUZZ_SEEDS=1 ctest --preset default -R S14_9_FramesSplitAcrossChunks
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "support/hex_bytes.h"

namespace openwfp::testing_support {

using NamedSeeds = std::vector<std::pair<std::string, std::vector<uint8_t>>>;
using Property = std::function<std::string(std::span<const uint8_t>)>;

inline std::vector<uint8_t> readFileBytes(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// The files of fuzz/seeds/<dir>/ (written first from `named` when OPENWFP_WRITE_FUZZ_SEEDS=1);
// each named seed must be there with the same bytes (else a failure says how to regenerate).
inline std::vector<std::vector<uint8_t>> seedCorpus(const std::string& dir, const NamedSeeds& named) {
  const std::filesystem::path root = std::filesystem::path(OPENWFP_SOURCE_DIR) / "fuzz" / "seeds" / dir;
  if (const char* w = std::getenv("OPENWFP_WRITE_FUZZ_SEEDS"); w != nullptr && std::string(w) == "1") {
    std::filesystem::create_directories(root);
    for (const auto& [name, bytes] : named) {
      std::ofstream f(root / name, std::ios::binary | std::ios::trunc);
      f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    }
  }
  for (const auto& [name, bytes] : named) {
    if (readFileBytes(root / name) != bytes) {
      ADD_FAILURE() << "fuzz/seeds/" << dir << "/" << name
                    << " is missing or stale; regenerate with OPENWFP_WRITE_FUZZ_SEEDS=1 and this test";
    }
  }
  std::vector<std::vector<uint8_t>> corpus;
  if (std::filesystem::is_directory(root)) {
    for (const auto& e : std::filesystem::directory_iterator(root)) corpus.push_back(readFileBytes(e.path()));
  }
  return corpus;
}

// Runs the property over the seeds, `fresh` random inputs of up to maxLen bytes and `mutants`
// mutants of the seeds (byte flips, insertions, deletions, splices); every failure is reported
// with its input. Deterministic (fixed seed).
inline void replay(const Property& property, const std::vector<std::vector<uint8_t>>& seeds, size_t fresh,
                   size_t mutants, size_t maxLen) {
  int failures = 0;
  const auto run = [&](const std::vector<uint8_t>& input, const char* what, size_t i) {
    if (failures >= 5) return;
    const std::string f = property(input);
    if (f.empty()) return;
    ++failures;
    ADD_FAILURE() << what << " " << i << ": " << f << "\n  input: " << hexBytes(input, 4096);
  };
  for (size_t i = 0; i < seeds.size(); ++i) run(seeds[i], "seed", i);
  std::mt19937_64 rng(0x6f70656e776670ull);
  for (size_t i = 0; i < fresh; ++i) {
    std::vector<uint8_t> b(rng() % (maxLen + 1));
    for (auto& x : b) x = static_cast<uint8_t>(rng());
    run(b, "random input", i);
  }
  for (size_t i = 0; i < mutants && !seeds.empty(); ++i) {
    std::vector<uint8_t> b = seeds[i % seeds.size()];
    const size_t edits = 1 + rng() % 4;
    for (size_t e = 0; e < edits; ++e) {
      const size_t at = b.empty() ? 0 : rng() % b.size();
      switch (rng() % 4) {
        case 0:
          if (!b.empty()) b[at] ^= static_cast<uint8_t>(1u << (rng() % 8));
          break;
        case 1:
          b.insert(b.begin() + static_cast<std::ptrdiff_t>(at), static_cast<uint8_t>(rng()));
          break;
        case 2:
          if (!b.empty()) b.erase(b.begin() + static_cast<std::ptrdiff_t>(at));
          break;
        default: {
          const auto& other = seeds[rng() % seeds.size()];
          if (!other.empty()) b.insert(b.begin() + static_cast<std::ptrdiff_t>(at), other.begin() + static_cast<std::ptrdiff_t>(rng() % other.size()), other.end());
          break;
        }
      }
    }
    if (b.size() > maxLen) b.resize(maxLen);
    run(b, "mutant", i);
  }
}

}  // namespace openwfp::testing_support
