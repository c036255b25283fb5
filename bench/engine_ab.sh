#!/usr/bin/env bash
# Before/after of a change to the CPU backend: two engine_bench binaries (say, built at two
# commits) on the same model, alternating A, B, A, B, ... so that drifting load hits both alike.
# Prints each run's items/s and each binary's median.
#
#   bench/engine_ab.sh [--rounds N] BIN_A BIN_B -- ENGINE_BENCH_ARGS...
#
# BIN_A and BIN_B are commands split on spaces, so one may set a switch for the same binary:
#   bench/engine_ab.sh "env SHARDSCORE_FUSE_ATTENTION=0 build/bench/engine_bench" build/bench/engine_bench -- ...
#
# Example (a binary of the previous commit kept in /tmp):
#   git stash; make -C build engine_bench; cp build/bench/engine_bench /tmp/engine_bench_before; git stash pop
#   make -C build engine_bench
#   bench/engine_ab.sh --rounds 4 /tmp/engine_bench_before build/bench/engine_bench -- \
#       --model bench/out/resnet50.onnx --batch 8 --threads 1 --warmup 2 --repeats 4
set -euo pipefail
rounds=4
if [[ ${1:-} == --rounds ]]; then rounds=$2; shift 2; fi
if (($# < 3)) || [[ $3 != -- ]]; then
  sed -n '2,15p' "$0" >&2
  exit 2
fi
a=$1 b=$2
shift 3
declare -A runs
for ((r = 1; r <= rounds; ++r)); do
  for bin in "$a" "$b"; do
    # shellcheck disable=SC2086  # a command with its own words (env VAR=value binary)
    line=$($bin "$@" 2>&1 | tail -n 1)
    ips=$(sed -n 's/.*-> \([0-9.e+]*\) items\/s.*/\1/p' <<<"$line")
    if [[ -z $ips ]]; then
      echo "engine_ab: $bin printed no items/s: $line" >&2
      exit 1
    fi
    runs[$bin]+=" $ips"
    echo "round $r  $bin  $ips items/s"
  done
done
for bin in "$a" "$b"; do
  median=$(tr ' ' '\n' <<<"${runs[$bin]}" | sed '/^$/d' | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}')
  echo "median  $bin  $median items/s  (runs:${runs[$bin]})"
done
