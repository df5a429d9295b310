#!/usr/bin/env bash
# promtool check rules + promtool test rules on tracegap's Prometheus rules, and promtool check
# config on the example scrape configuration. Usage: check_rules.sh packaging/prometheus
set -euo pipefail
dir=${1:?usage: check_rules.sh DIR}
if ! command -v promtool >/dev/null; then
  echo "SKIP: promtool not found (Debian package prometheus; scripts/install-deps.sh installs it)"
  exit 77
fi
cd "$dir"
promtool check rules tracegap.rules.yml
promtool test rules tracegap.rules.test.yml
promtool check config scrape.yml
echo "check_rules: rules, rule tests and scrape config OK"
