#!/usr/bin/env bash
# The GPU check: run on a machine with an NVIDIA GPU, its driver, the CUDA toolkit (13) and cuDNN 9
# (a system install, or the nvidia-* Python wheels PyTorch brings) but none of shardscore's other
# dependencies, no ssh and no network. Everything else comes from the bundle that
# tools/make_gpu_bundle.sh made on the build machine. It runs, each step logged and timed:
#
#   device        nvidia-smi, and `shardscore --version` (what the bundle's build sees)
#   cuda-device   the CUDA runtime probe (tests/kernels)
#   op-tests      every op test on the CUDA backend, against float64 references (tests/engine); this
#                 step, onnx-data and engine run through tools/gpu_gtest_rounds.sh: a test whose
#                 kernel faults on the device is run again alone with SHARDSCORE_CUDA_SYNC=1, which
#                 names the node, and the others run again without it
#   onnx-data     ONNX's own test data on the CUDA backend: single ops, PyTorch layers, small models
#                 (the folders of onnx/backend/test/data in scope; tests/engine/test_onnx_node_conformance.cpp)
#   engine        whole fixture models on CUDA vs the CPU backend, bit-identical replays, device
#                 memory flat over 1000 batches (tests/engine/test_engine.cpp)
#   e2e           the fixture models through the whole job (HDF5 in and out) at 2 ranks, two of
#                 them byte-identical at 1, 2 and 3, on --backend cuda against ONNX Runtime (tests/e2e/test_fixtures.py; needs python3
#                 with numpy, h5py, onnx, onnxruntime and pytest)
#   ops-vs-ort    every standard op on CUDA against ONNX Runtime, some 1,000 single-op cases
#                 (tests/e2e/test_ops_vs_onnxruntime.py; the same python3), at most
#                 GPU_CHECK_OPS_SECONDS (120)
#   cudnn-layouts bench/cudnn_conv_layouts when GPU_CHECK_BENCH=1: ResNet-50's convolutions in cuDNN,
#                 NCHW (as the backend runs them) against NHWC, fp16, batch 256
#   bench         bench/gpu_vs_pytorch.py when GPU_CHECK_BENCH=1 (needs PyTorch), its torch.compile
#                 rows only if time remains; engine-only rows and an fp16 per-op profile in the logs
#   memcheck      compute-sanitizer memcheck over the CUDA op tests, in the time left
#
# and ends with a summary table (also in OUT/summary.md).
#
#   tools/gpu_check.sh [BUNDLE.tar.xz]        default: gpu-bundle.tar.xz in the repository root
#   GPU_CHECK_STEPS="op-tests e2e" tools/gpu_check.sh     only some steps
#   GPU_CHECK_E2E_BACKEND=cpu GPU_CHECK_STEPS=e2e ...       the bundle itself checked on a machine without a GPU
#                                                           (tools/check_gpu_bundle.sh does this in a bare Debian root)
#   GPU_CHECK_DEADLINE=570 (seconds, default)    the whole check ends by then: each step gets at most
#                                                the time left, a step that runs over is stopped and
#                                                reported, and steps with no time left are skipped
#   GPU_CHECK_STEP_TIMEOUT=420 (seconds, default)   the most any one step may take
#   GPU_CHECK_BENCH_ARGS="--models resnet50"        passed on to bench/gpu_vs_pytorch.py
#   GPU_CHECK_BENCH_SECONDS=300                     the benchmark's --budget (its torch.compile rows fit in it)
#
# The device tool allows 10 minutes a command and 15 minutes of device time a session, machine start
# included: one call runs everything (GPU_CHECK_BENCH=1 tools/gpu_check.sh, timeout_s 600), leaving
# time to rerun one step after a fix.
#
# Output (in $OUT when set, the device tool's, else gpu-check-out/; at most five files, as the device
# tool brings back eight): summary.md, gpu-check-logs.tar.gz (every step's whole log and the
# benchmark's job and profile logs), cudnn_conv_layouts.md, and the benchmark's gpu_vs_pytorch.md
# and .json. Each step's last lines are
# also printed. Exit status: 0 when every step that ran passed.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bundle="${1:-$root/gpu-bundle.tar.xz}"
out="${OUT:-$root/gpu-check-out}"
steps="${GPU_CHECK_STEPS:-device cuda-device op-tests onnx-data engine e2e ops-vs-ort cudnn-layouts bench memcheck}"
deadline="${GPU_CHECK_DEADLINE:-570}"
step_limit="${GPU_CHECK_STEP_TIMEOUT:-420}"
mkdir -p "$out"
[[ -f $bundle ]] || { echo "gpu_check: no bundle at $bundle (make it with tools/make_gpu_bundle.sh)" >&2; exit 2; }

dir="$(mktemp -d /tmp/shardscore-gpu-check.XXXXXX)"
tar -C "$dir" -xJf "$bundle" || { echo "gpu_check: cannot unpack $bundle" >&2; exit 2; }
B="$dir/gpu-bundle"
logs="$dir/logs"
bench_data="${GPU_CHECK_BENCH_DATA:-/tmp/shardscore-gpu-bench}"
mkdir -p "$logs"

# The machine's own CUDA libraries (cuBLAS, cuBLASLt, cuDNN): the toolkit's, then PyTorch's wheels.
cuda_libs=""
for d in /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/local/cuda/targets/x86_64-linux/lib; do
  [[ -d $d ]] && cuda_libs="$cuda_libs:$d"
done
if command -v python3 >/dev/null; then
  wheel_libs="$(python3 - <<'PY' 2>/dev/null
import glob, os, site
dirs = []
for sp in site.getsitepackages():
    dirs += sorted(glob.glob(os.path.join(sp, "nvidia", "*", "lib")))
print(":".join(dirs))
PY
)"
  [[ -n $wheel_libs ]] && cuda_libs="$cuda_libs:$wheel_libs"
fi
# The bundle's libraries go only to the bundle's programs, through wrappers (wrap/): Python and
# PyTorch on this machine keep their own.
libs="$B/lib${cuda_libs}"
if LD_LIBRARY_PATH="$libs" ldd "$B/bin/shardscore" 2>&1 | grep -q -E "not found|GLIBCXX|CXXABI"; then
  libs="$libs:$B/lib-cxx"  # this machine's C++ runtime is older than the build's
fi
mkdir -p "$B/wrap"
for exe in "$B"/bin/* "$B"/mpi/usr/bin/*; do
  cat >"$B/wrap/$(basename "$exe")" <<WRAP
#!/usr/bin/env bash
export LD_LIBRARY_PATH="$libs\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
exec "$exe" "\$@"
WRAP
  chmod +x "$B/wrap/$(basename "$exe")"
done
# Open MPI and PMIx were built for /usr: relocated into the bundle.
export OPAL_PREFIX="$B/mpi/usr"
export PMIX_INSTALL_PREFIX="$B/mpi/usr/lib/x86_64-linux-gnu/pmix2"
export PMIX_MCA_mca_base_component_path="$B/mpi/usr/lib/x86_64-linux-gnu/pmix2/lib/pmix"
export PATH="$B/wrap:$PATH"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_mca_base_component_show_load_errors=0 OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1
# One node, and no ssh on a bare GPU image: launch locally without looking for an rsh agent.
export OMPI_MCA_plm=isolated
export SHARDSCORE_SOURCE_DIR="$root" SHARDSCORE_BIN="$B/wrap/shardscore" SHARDSCORE_ENGINE_BENCH="$B/wrap/engine_bench"

declare -a names results seconds
run_step() {  # name, command... (the command may read STEP_SECONDS: the time it is given)
  local name=$1
  shift
  [[ " $steps " == *" $name "* ]] || return 0
  names+=("$name")
  local left=$((deadline - SECONDS - 10)) limit=$step_limit
  ((left < limit)) && limit=$left
  if ((limit < 20)); then
    echo "== gpu_check: $name: skipped, ${left} s left of GPU_CHECK_DEADLINE=$deadline"
    results+=("skipped (no time left)")
    seconds+=(0)
    return 0
  fi
  echo "== gpu_check: $name (at most $limit s): $*"
  local t0=$SECONDS
  STEP_SECONDS=$limit timeout --kill-after=10 "$limit" "$@" >"$logs/$name.log" 2>&1
  local rc=$?
  [[ $rc -eq 124 || $rc -eq 137 ]] && echo "gpu_check: $name stopped after $limit s" >>"$logs/$name.log"
  tail -n 15 "$logs/$name.log"
  seconds+=($((SECONDS - t0)))
  if [[ $rc -eq 0 ]]; then
    results+=("passed")
  elif [[ $rc -eq 124 || $rc -eq 137 ]]; then
    results+=("STOPPED after $limit s")
  else
    results+=("FAILED (exit $rc)")
  fi
}

# Every command of this step must work: no GPU or no driver is a failure here, not a skip.
run_step device bash -c 'set -e; cat "$0/MANIFEST"; nvidia-smi -L; nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv; shardscore --version; LD_LIBRARY_PATH="$1" ldd "$0/bin/shardscore" | grep -E "not found|cublas|cudnn|cudart|stdc"; ! LD_LIBRARY_PATH="$1" ldd "$0/bin/shardscore" | grep -q "not found"' "$B" "$libs"
run_step cuda-device test_cuda_device
# Through gpu_gtest_rounds.sh: a kernel's device fault would fail every later test of the process.
rounds="$root/tools/gpu_gtest_rounds.sh"
run_step op-tests "$rounds" test_ops '*/cuda' --gtest_brief=1
run_step onnx-data env SHARDSCORE_ONNX_TEST_DATA="$B/onnx-data" "$rounds" test_onnx_node_conformance '*/cuda__*:OnnxNodeData.*' --gtest_brief=1
run_step engine "$rounds" test_engine '*' --gtest_brief=1
if command -v python3 >/dev/null; then
  run_step e2e env SHARDSCORE_E2E_BACKEND="${GPU_CHECK_E2E_BACKEND:-cuda}" python3 -m pytest -q -p no:cacheprovider -x "$root/tests/e2e/test_fixtures.py"
  # Capped: a case that fails in a shared model reruns its group one model at a time (one CUDA
  # start each), which must not eat the benchmark's time.
  saved_limit=$step_limit
  step_limit="${GPU_CHECK_OPS_SECONDS:-120}"
  run_step ops-vs-ort env SHARDSCORE_E2E_BACKEND="${GPU_CHECK_E2E_BACKEND:-cuda}" \
    python3 -m pytest -q -p no:cacheprovider -rfE "$root/tests/e2e/test_ops_vs_onnxruntime.py"
  step_limit=$saved_limit
fi
if [[ ${GPU_CHECK_BENCH:-0} == 1 ]]; then
  # ResNet-50's convolutions in cuDNN, NCHW (as the backend runs them) against NHWC: seconds.
  run_step cudnn-layouts bash -c 'set -o pipefail; cudnn_conv_layouts --batch 256 --precision fp16 | tee "$0/cudnn_conv_layouts.md"' "$out"
fi
if [[ ${GPU_CHECK_BENCH:-0} == 1 ]] && command -v python3 >/dev/null; then
  # The benchmark sizes its optional rows (torch.compile) to the time it is given: at most
  # GPU_CHECK_BENCH_SECONDS (300), so that memcheck keeps some.
  export BENCH_CAP="${GPU_CHECK_BENCH_SECONDS:-300}"
  # shellcheck disable=SC2086
  run_step bench bash -c 'exec python3 "$0/bench/gpu_vs_pytorch.py" --out "$1" --data "$2" --budget "$((STEP_SECONDS < BENCH_CAP ? STEP_SECONDS - 15 : BENCH_CAP))" '"${GPU_CHECK_BENCH_ARGS:-}" \
    "$root" "$out" "$bench_data"
fi
# Last: the slowest step, and a diagnostic one; the benchmark's figures come first.
if command -v compute-sanitizer >/dev/null; then
  run_step memcheck env LD_LIBRARY_PATH="$libs" compute-sanitizer --tool memcheck --error-exitcode 1 --print-limit 20 \
    "$B/bin/test_ops" --gtest_filter='*/cuda' --gtest_brief=1
fi

{
  echo "| step | result | seconds | log |"
  echo "|---|---|---:|---|"
  for i in "${!names[@]}"; do echo "| ${names[$i]} | ${results[$i]} | ${seconds[$i]} | ${names[$i]}.log |"; done
} | tee "$out/summary.md"
# The whole logs, with the benchmark's job logs, in one file (the device tool brings back eight).
cp "$bench_data"/*.log "$logs/" 2>/dev/null
tar -C "$dir" -czf "$out/gpu-check-logs.tar.gz" logs
echo "gpu_check: logs in $out/gpu-check-logs.tar.gz"
rm -rf "$dir"
for r in "${results[@]}"; do [[ $r == passed ]] || exit 1; done
exit 0
