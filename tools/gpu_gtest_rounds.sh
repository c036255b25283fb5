#!/usr/bin/env bash
# Runs a GoogleTest binary's tests (tools/gpu_check.sh's GPU steps) so that a kernel's fault on the
# device costs only its own test. Such a fault (an illegal address, a trap) leaves the process's CUDA
# context unusable, so every later test in the same run fails too, and says nothing of its own.
#
#   tools/gpu_gtest_rounds.sh BINARY FILTER [ARGS...]
#
# A failed run whose log has the backend's device-fault message (src/engine/cuda/cuda_op.h's
# kDeviceFaultHint) is followed by the first test that failed with it, run alone with
# SHARDSCORE_CUDA_SYNC=1 (the host waits after every step, so its message names the node whose
# kernel faulted), and by a new run of the filter's other tests, without it: at most
# GPU_GTEST_ROUNDS (6) runs, each of them whole. A test that crashed the process after the message
# cannot be named (no FAILED line): the script then stops there.
# Exit status: 0 when the last run passed and no test faulted, else non-zero.
set -uo pipefail
[[ $# -ge 2 ]] || { echo "usage: $0 BINARY FILTER [ARGS...]" >&2; exit 2; }
bin=$1
filter=$2
shift 2
rounds="${GPU_GTEST_ROUNDS:-6}"
marker="a kernel faulted on the device"
excluded=""
faulted=0
# GoogleTest's filter is POSITIVE[-NEGATIVE], patterns joined by ':': one more negative pattern.
if [[ $filter == *-* ]]; then sep=":"; else sep=":-"; fi
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
for ((round = 1; round <= rounds; round++)); do
  "$bin" --gtest_filter="$filter${excluded:+$sep$excluded}" "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  [[ $rc -ne 0 ]] && grep -q "$marker" "$log" || exit $((rc != 0 || faulted))
  # The first test whose failure printed the message: the "[  FAILED  ] Suite.Name..." line after it
  # (not the summary's "[  FAILED  ] 3 tests, listed below:").
  first="$(awk -v m="$marker" 'index($0, m) { seen = 1 } seen && /^\[  FAILED  \] / && $4 ~ /\./ { print $4; exit }' "$log")"
  first="${first%,}"
  if [[ -z $first ]]; then
    echo "gpu_gtest_rounds: a device fault was reported, but no failed test after it"
    exit 1
  fi
  faulted=1
  echo "== gpu_gtest_rounds: a kernel faulted on the device in $first; it again alone with SHARDSCORE_CUDA_SYNC=1" \
       "(naming the node), then the others without it"
  SHARDSCORE_CUDA_SYNC=1 "$bin" --gtest_filter="$first" "$@" 2>&1
  excluded="${excluded:+$excluded:}$first"
done
echo "gpu_gtest_rounds: stopped after $rounds runs; tests that faulted: $excluded"
exit 1
