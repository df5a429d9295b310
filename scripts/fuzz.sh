#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (ASan + UBSan) into build-fuzz/ and runs
# each for SECONDS on a fresh copy of its seed corpus (tests/fuzz/corpus/<target>/), with its
# dictionaries (tests/fuzz/dict/). Prints the executions per target. Exits non-zero if a target
# finds anything (crash, sanitizer report, broken invariant, timeout, out of memory); the input
# is kept in build-fuzz/findings/<target>/ and the log in build-fuzz/fuzz-logs/<target>.log.
# Reproduce a finding with: build-fuzz/bin/<target> build-fuzz/findings/<target>/<file>
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 60 s, every target)
# Environment:
#   FUZZ_JOBS=N         targets run at once (default 1; the runs are niced either way)
#   FUZZ_KEEP_CORPUS=1  continue from the working corpus of the previous run instead of the seeds
#   BUILD_DIR           build directory (default build-fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
[[ $# -gt 0 ]] && shift
all_targets=(fuzz_http1 fuzz_http2 fuzz_trace_context fuzz_event_decoder fuzz_api_json fuzz_amqp fuzz_kafka fuzz_nats fuzz_proc_maps fuzz_cgroup)
if [[ $# -gt 0 ]]; then targets=("$@"); else targets=("${all_targets[@]}"); fi
build_dir=${BUILD_DIR:-build-fuzz}
jobs=${FUZZ_JOBS:-1}

# Per target: the longest input (long enough for a few events of the largest header block the
# kernel copies, short enough to keep executions fast) and the dictionaries it uses.
declare -A max_len=([fuzz_http1]=12288 [fuzz_http2]=16384 [fuzz_trace_context]=4096
                    [fuzz_event_decoder]=20480 [fuzz_api_json]=8192 [fuzz_amqp]=16384 [fuzz_kafka]=16384
                    [fuzz_nats]=12288 [fuzz_proc_maps]=16384 [fuzz_cgroup]=4096)
declare -A dicts=([fuzz_http1]="http1 trace" [fuzz_http2]="http2 trace" [fuzz_trace_context]="trace"
                  [fuzz_event_decoder]="records http1 http2 trace" [fuzz_api_json]="json"
                  [fuzz_amqp]="amqp trace" [fuzz_kafka]="kafka trace"
                  [fuzz_nats]="nats trace" [fuzz_proc_maps]="maps" [fuzz_cgroup]="cgroup")
for t in "${targets[@]}"; do
  [[ -n "${max_len[$t]:-}" ]] || { echo "fuzz: unknown target '$t' (known: ${all_targets[*]})" >&2; exit 2; }
done

command -v clang++ >/dev/null || { echo "fuzz: clang++ not found (scripts/install-deps.sh installs it)" >&2; exit 2; }
# libFuzzer and the sanitizer runtimes are in libclang-rt-14-dev, which clang only recommends.
if [[ ! -e "$(clang++ --print-runtime-dir)/libclang_rt.fuzzer-$(uname -m).a" ]]; then
  echo "fuzz: clang's libFuzzer runtime is missing: apt-get install libclang-rt-14-dev" >&2
  exit 2
fi
cmake -S . -B "$build_dir" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DTRACEGAP_FUZZ=ON \
  -DTRACEGAP_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build_dir" -j "$(nproc)" --target "${targets[@]}" >/dev/null

out=$(cd "$build_dir" && pwd)
mkdir -p "$out/fuzz-logs" "$out/fuzz-corpus" "$out/findings" "$out/fuzz-dicts"

run_one() {
  local t=$1 corpus="$out/fuzz-corpus/$1" findings="$out/findings/$1" dict="$out/fuzz-dicts/$1.dict"
  rm -f "$out/fuzz-logs/$t.rc"  # a run that dies before writing it counts as failed
  if [[ "${FUZZ_KEEP_CORPUS:-0}" != 1 || ! -d "$corpus" ]]; then
    rm -rf "$corpus"
    mkdir -p "$corpus"
    cp tests/fuzz/corpus/"$t"/* "$corpus"/
  fi
  mkdir -p "$findings"
  : >"$dict"
  for d in ${dicts[$t]}; do cat "tests/fuzz/dict/$d.dict" >>"$dict"; done
  local rc=0
  nice -n 10 "$out/bin/$t" -max_total_time="$seconds" -max_len="${max_len[$t]}" -dict="$dict" \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$findings/" \
    "$corpus" >"$out/fuzz-logs/$t.log" 2>&1 || rc=$?
  echo "$rc" >"$out/fuzz-logs/$t.rc"
}

echo "fuzz: ${targets[*]}: ${seconds}s each, ${jobs} at a time (logs in $build_dir/fuzz-logs)"
running=0
for t in "${targets[@]}"; do
  run_one "$t" &
  running=$((running + 1))
  if ((running >= jobs)); then
    wait -n || true
    running=$((running - 1))
  fi
done
wait || true

failed=()
for t in "${targets[@]}"; do
  log="$out/fuzz-logs/$t.log"
  rc=$(cat "$out/fuzz-logs/$t.rc" 2>/dev/null || echo 1)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -1 || true)
  if [[ "$rc" == 0 ]]; then
    printf 'fuzz: %-20s ok       %12s execs (%s/s) %s\n' "$t" "${execs:-?}" "${speed:-?}" "$cov"
  else
    failed+=("$t")
    printf 'fuzz: %-20s FINDING  %12s execs (exit %s); input kept in %s/findings/%s/\n' \
      "$t" "${execs:-?}" "$rc" "$build_dir" "$t"
    ls -1 "$out/findings/$t" | sed 's/^/fuzz:     /'
    grep -E 'ERROR|invariant broken|runtime error|SUMMARY' "$log" | head -5 | sed 's/^/fuzz:     /' || true
  fi
done
if ((${#failed[@]} > 0)); then
  echo "fuzz: FAILED: findings in ${failed[*]} (logs in $build_dir/fuzz-logs)" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} target(s) ran ${seconds}s each without a finding"
