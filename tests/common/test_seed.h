#pragma once
// The seed of a randomized test: SHARDSCORE_TEST_SEED when set (to reproduce a failure), otherwise
// a fresh one. A test that draws one shows it on every failure (SCOPED_TRACE(seed_trace(seed))).
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>

namespace shardscore {

inline uint32_t test_seed() {
  if (const char* s = std::getenv("SHARDSCORE_TEST_SEED")) return static_cast<uint32_t>(std::strtoul(s, nullptr, 10));
  return std::random_device{}();
}

inline std::string seed_trace(uint32_t seed) {
  return "random seed " + std::to_string(seed) + " (reproduce with SHARDSCORE_TEST_SEED=" + std::to_string(seed) + ")";
}

}  // namespace shardscore
