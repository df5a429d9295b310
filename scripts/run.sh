#!/usr/bin/env bash
# One command on a fresh Debian 12 machine: install what is needed, build, and run tracegapd in
# the foreground (Ctrl-C stops it). Extra arguments go to tracegapd, e.g. --listen 0.0.0.0:9477.
# Usage: sudo scripts/run.sh [tracegapd options]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --build-only
scripts/build.sh
exec build/bin/tracegapd "$@"
