#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs the whole test suite with ctest: unit tests, MPI tests at 1
# and 3 ranks, and the end-to-end tests against ONNX Runtime. Extra arguments go to ctest
# (for example: scripts/test.sh -R e2e).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/env.sh
scripts/setup.sh
ctest --test-dir build --output-on-failure -j"$(nproc)" "$@"
