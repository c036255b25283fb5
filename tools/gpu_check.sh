#!/usr/bin/env bash
# The GPU check: run on a machine with an NVIDIA GPU, its driver, the CUDA toolkit (13) and cuDNN 9
# (a system install, or the nvidia-* Python wheels PyTorch brings) but none of shardscore's other
# dependencies and no network. Everything else comes from the bundle that tools/make_gpu_bundle.sh
# made on the build machine. It runs, each step logged and timed:
#
#   device        nvidia-smi, and `shardscore --version` (what the bundle's build sees)
#   cuda-device   the CUDA runtime probe (tests/kernels)
#   op-tests      every op test on the CUDA backend, against float64 references (tests/engine)
#   engine        whole fixture models on CUDA vs the CPU backend, bit-identical replays, device
#                 memory flat over 1000 batches (tests/engine/test_engine.cpp)
#   memcheck      compute-sanitizer memcheck over the CUDA op tests
#   e2e           the fixture models through the whole job (HDF5 in and out) at 1, 2 and 3 ranks
#                 on --backend cuda against ONNX Runtime (tests/e2e/test_fixtures.py; needs python3
#                 with numpy, h5py, onnxruntime and pytest)
#   bench         bench/gpu_vs_pytorch.py when GPU_CHECK_BENCH=1 (needs PyTorch)
#
# and ends with a summary table (also in OUT/summary.md).
#
#   tools/gpu_check.sh [BUNDLE.tar.xz]        default: gpu-bundle.tar.xz in the repository root
#   GPU_CHECK_STEPS="op-tests e2e" tools/gpu_check.sh     only some steps
#   GPU_CHECK_E2E_BACKEND=cpu GPU_CHECK_STEPS=e2e ...       the bundle itself checked on a machine without a GPU
#   GPU_CHECK_STEP_TIMEOUT=420 (seconds, default)           a step that hangs is stopped and reported
#
# The device tool allows 10 minutes a command: run the tests in one call and the benchmark in
# another (GPU_CHECK_STEPS=bench GPU_CHECK_BENCH=1).
#
# Logs go to $OUT when set (the device tool's), else to gpu-check-out/. Exit status: 0 when every
# step that ran passed.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bundle="${1:-$root/gpu-bundle.tar.xz}"
out="${OUT:-$root/gpu-check-out}"
steps="${GPU_CHECK_STEPS:-device cuda-device op-tests engine memcheck e2e bench}"
mkdir -p "$out"
[[ -f $bundle ]] || { echo "gpu_check: no bundle at $bundle (make it with tools/make_gpu_bundle.sh)" >&2; exit 2; }

dir="$(mktemp -d /tmp/shardscore-gpu-check.XXXXXX)"
tar -C "$dir" -xJf "$bundle" || { echo "gpu_check: cannot unpack $bundle" >&2; exit 2; }
B="$dir/gpu-bundle"

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
export SHARDSCORE_SOURCE_DIR="$root" SHARDSCORE_BIN="$B/wrap/shardscore"

declare -a names results seconds
run_step() {  # name, command...
  local name=$1
  shift
  [[ " $steps " == *" $name "* ]] || return 0
  echo "== gpu_check: $name: $*"
  local t0=$SECONDS
  timeout --kill-after=10 "${GPU_CHECK_STEP_TIMEOUT:-420}" "$@" >"$out/$name.log" 2>&1
  local rc=$?
  [[ $rc -eq 124 || $rc -eq 137 ]] && echo "gpu_check: $name stopped after ${GPU_CHECK_STEP_TIMEOUT:-420} s" >>"$out/$name.log"
  tail -n 15 "$out/$name.log"
  names+=("$name")
  seconds+=($((SECONDS - t0)))
  if [[ $rc -eq 0 ]]; then results+=("passed"); else results+=("FAILED (exit $rc)"); fi
}

run_step device bash -c 'cat "$0/MANIFEST"; nvidia-smi -L; nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv; shardscore --version; LD_LIBRARY_PATH="$1" ldd "$0/bin/shardscore" | grep -E "not found|cublas|cudnn|cudart|stdc"' "$B" "$libs"
run_step cuda-device test_cuda_device
run_step op-tests test_ops --gtest_filter='*/cuda' --gtest_brief=1
run_step engine test_engine --gtest_brief=1
if command -v compute-sanitizer >/dev/null; then
  run_step memcheck env LD_LIBRARY_PATH="$libs" compute-sanitizer --tool memcheck --error-exitcode 1 --print-limit 20 \
    "$B/bin/test_ops" --gtest_filter='*/cuda' --gtest_brief=1
fi
if command -v python3 >/dev/null; then
  run_step e2e env SHARDSCORE_E2E_BACKEND="${GPU_CHECK_E2E_BACKEND:-cuda}" python3 -m pytest -q -p no:cacheprovider -x "$root/tests/e2e/test_fixtures.py"
  if [[ ${GPU_CHECK_BENCH:-0} == 1 && -f $root/bench/gpu_vs_pytorch.py ]]; then
    run_step bench python3 "$root/bench/gpu_vs_pytorch.py" --out "$out"
  fi
fi

{
  echo "| step | result | seconds | log |"
  echo "|---|---|---:|---|"
  for i in "${!names[@]}"; do echo "| ${names[$i]} | ${results[$i]} | ${seconds[$i]} | ${names[$i]}.log |"; done
} | tee "$out/summary.md"
rm -rf "$dir"
for r in "${results[@]}"; do [[ $r == passed ]] || exit 1; done
exit 0
