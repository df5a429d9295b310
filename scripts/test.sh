#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this): installs what is needed,
# builds, and runs every ctest tier. The end-to-end tier needs root and BPF; without them its
# tests are reported as skipped, with the reason, never as passed.
# Usage: sudo scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
cd build
ctest --output-on-failure --timeout 600 "$@"
