// tests/reliability/damage_matrix.h — the switch of the damage-matrix tests
// (damage_matrix_test.cpp, damage_repro_test.cpp): they check SPEC "Recovery"
// (one verdict for every entry point) and are skipped, loudly, unless
// RUNLOG_DAMAGE_MATRIX=1 or kDamageMatrixOnByDefault is true.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

namespace runlog::testing {

/// Turn the damage-matrix tests on for every build: set to true.
inline constexpr bool kDamageMatrixOnByDefault = false;

inline bool DamageMatrixEnabled() {
  const char* v = std::getenv("RUNLOG_DAMAGE_MATRIX");
  return kDamageMatrixOnByDefault || (v != nullptr && std::strcmp(v, "1") == 0);
}

}  // namespace runlog::testing

#define RUNLOG_REQUIRE_DAMAGE_MATRIX()                                                                   \
  do {                                                                                                   \
    if (!::runlog::testing::DamageMatrixEnabled())                                                       \
      GTEST_SKIP() << "SKIPPED: the damage matrix (SPEC \"Recovery\": one verdict for every entry "    \
                      "point) is off until recovery makes that one decision; run it with "               \
                      "RUNLOG_DAMAGE_MATRIX=1, or set kDamageMatrixOnByDefault in "                      \
                      "tests/reliability/damage_matrix.h";                                               \
  } while (0)
