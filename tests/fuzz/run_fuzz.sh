#!/usr/bin/env bash
# Builds the model-loader fuzz target with clang (libFuzzer + AddressSanitizer) in build-fuzz/ and
# runs it for FUZZ_SECONDS (default 60) from a corpus of real models. Exit 0 only if no crash,
# leak of a sanitizer report, or timeout was found. Used by ctest (test "fuzz.model_loader").
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${FUZZ_BUILD_DIR:-$root/build-fuzz}"
seconds="${FUZZ_SECONDS:-60}"

if [[ ! -f $build/CMakeCache.txt ]]; then
  cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSHARDSCORE_FUZZ=ON -DSHARDSCORE_BUILD_TESTS=OFF -DSHARDSCORE_CUDA=OFF >/dev/null
fi
cmake --build "$build" --target fuzz_model_loader -j"$(nproc)" >/dev/null

corpus="$(mktemp -d)"
work="$(mktemp -d)"
trap 'rm -rf "$corpus" "$work"' EXIT
cp "$root"/data/*.onnx "$root"/tests/fixtures/*.onnx "$corpus"/
# Run in an empty folder: external-data locations in mutated models resolve there.
cd "$work"
# Leaks are not checked: libonnx's schema registry is allocated once and never freed.
log="$work/fuzz.log"
status=0
ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 \
  "$build/fuzz_model_loader" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$work/" "$corpus" >"$log" 2>&1 || status=$?
if [[ $status -ne 0 ]]; then
  tail -n 80 "$log"
  mkdir -p "$root/build/fuzz-artifacts"
  cp "$work"/crash-* "$work"/timeout-* "$work"/oom-* "$root/build/fuzz-artifacts/" 2>/dev/null || true
  echo "fuzz.model_loader: FAILED (exit $status); artifacts in build/fuzz-artifacts/"
  exit "$status"
fi
grep -E '^(Done|stat::)' "$log"
echo "fuzz.model_loader: ${seconds} s without a crash"
