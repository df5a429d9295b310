#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this): installs what is needed,
# builds, and runs every ctest tier. The end-to-end tier needs root and BPF; without them its
# tests are reported as skipped, with the reason, never as passed.
# Before the main ctest run, two more tiers (each failure fails the script, after the main run):
#   sanitizers  the unit tier again, built with ASan + UBSan in build-asan/ (no e2e there)
#   fuzz        every libFuzzer target for FUZZ_SECONDS (default 20) on its seeds (scripts/fuzz.sh)
# Usage: sudo scripts/test.sh [ctest arguments for the main run]
#   SANITIZE_TIER=0 or FUZZ_SECONDS=0 skips that tier.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
failed=()
if [[ "${SANITIZE_TIER:-1}" != 0 ]]; then
  echo "test: sanitizer tier: unit tests under ASan + UBSan (build-asan)"
  if ! (BUILD_DIR=build-asan scripts/build.sh -DTRACEGAP_SANITIZE=ON &&
        cd build-asan && ctest -L unit --output-on-failure --timeout 600); then
    failed+=("sanitizers (build-asan)")
  fi
fi
if [[ "${FUZZ_SECONDS:-20}" != 0 ]]; then
  echo "test: fuzz tier: each fuzz target for ${FUZZ_SECONDS:-20}s (build-fuzz)"
  scripts/fuzz.sh "${FUZZ_SECONDS:-20}" || failed+=("fuzz (build-fuzz/findings)")
fi
cd build
rc=0
ctest --output-on-failure --timeout 600 "$@" || rc=$?
if ((${#failed[@]} > 0)); then
  echo "test: FAILED tiers: ${failed[*]} (their output is above)" >&2
  exit 1
fi
exit "$rc"
