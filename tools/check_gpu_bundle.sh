#!/usr/bin/env bash
# Checks the GPU bundle where nothing of this machine can help it: in a bare Debian 12 root (debootstrap
# minbase: no ssh, no Open MPI, HDF5, TBB, Boost, protobuf or Arrow), laid out like the GPU machine's
# image: python3 in a venv at /opt/torch/.venv with numpy, h5py, onnx, onnxruntime and pytest, and cuBLAS
# and cuDNN only as PyTorch's nvidia-* wheels lay them out (site-packages/nvidia/*/lib, copied from this
# machine's CUDA toolkit). There it runs tools/gpu_check.sh on the CPU: the CUDA test binaries start
# and skip, the engine tests pass, and the fixture suite runs through the bundle's relocated Open MPI
# at 2 ranks, and at 1, 2 and 3 for two fixtures (GPU_CHECK_E2E_BACKEND=cpu), as do the single-op cases against ONNX Runtime through
# the bundle's engine_bench. What fails here would fail on the GPU machine before its first kernel.
#
#   tools/check_gpu_bundle.sh [BUNDLE.tar.xz]     default: gpu-bundle.tar.xz (make it first)
#   CHECK_ROOT=/tmp/shardscore-bare-root          the root, made once (about 1 minute and 1.5 GB) and reused
#
# Needs root (debootstrap, chroot, mounts) and Debian's mirror and PyPI. Not part of CI: a developer's
# check before a GPU session, run after changing the bundle, gpu_check.sh or the linked libraries.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
bundle="$(realpath "${1:-$repo/gpu-bundle.tar.xz}")"
R="${CHECK_ROOT:-/tmp/shardscore-bare-root}"
cuda_lib="${CUDA_LIB_DIR:-/usr/local/cuda/lib}"
[[ -f $bundle ]] || { echo "check_gpu_bundle: no bundle at $bundle (tools/make_gpu_bundle.sh)" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "check_gpu_bundle: needs root (debootstrap, chroot)" >&2; exit 2; }

if [[ ! -f $R/opt/torch/.ready ]]; then  # made whole, or made again
  command -v debootstrap >/dev/null || apt-get install -y -q debootstrap
  rm -rf "$R"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates,xz-utils,procps bookworm "$R" \
    http://deb.debian.org/debian
  cp /etc/resolv.conf "$R/etc/"
  # This machine's CA bundle, which may hold a proxy's certificate that Debian's does not.
  cp "${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}" "$R/etc/ssl/certs/ca-certificates.crt"
  chroot "$R" python3 -m venv /opt/torch/.venv
  chroot "$R" /opt/torch/.venv/bin/pip install -q --no-cache-dir numpy h5py onnx onnxruntime pytest
  sp="$(echo "$R"/opt/torch/.venv/lib/python3*/site-packages)"
  mkdir -p "$sp/nvidia/cublas/lib" "$sp/nvidia/cudnn/lib"
  cp -a "$cuda_lib"/libcublas*.so* "$sp/nvidia/cublas/lib/"
  cp -a "$cuda_lib"/libcudnn*.so* "$sp/nvidia/cudnn/lib/"
  touch "$R/opt/torch/.ready"
fi
if chroot "$R" sh -c 'command -v ssh || command -v rsh || command -v mpirun' >/dev/null; then
  echo "check_gpu_bundle: $R has ssh, rsh or mpirun: not a bare root" >&2
  exit 2
fi

# The repository as the device tool sends it: tracked and untracked-not-ignored files, and the bundle.
rm -rf "$R/repo" "$R/out"
mkdir -p "$R/repo" "$R/out"
git -C "$repo" ls-files -z --cached --others --exclude-standard | (cd "$repo" && xargs -0 cp --parents -t "$R/repo" 2>/dev/null || true)
cp "$bundle" "$R/repo/gpu-bundle.tar.xz"

mounted=()
cleanup() { for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done; }
trap cleanup EXIT
mount -t proc proc "$R/proc" && mounted+=("$R/proc")
mount --rbind /sys "$R/sys" && mounted+=("$R/sys")
mount --rbind /dev "$R/dev" && mounted+=("$R/dev")

rc=0
chroot "$R" env -i HOME=/root PATH=/opt/torch/.venv/bin:/usr/local/bin:/usr/bin:/bin OUT=/out \
  GPU_CHECK_E2E_BACKEND=cpu GPU_CHECK_STEPS="cuda-device op-tests onnx-data engine e2e ops-vs-ort" \
  bash /repo/tools/gpu_check.sh /repo/gpu-bundle.tar.xz || rc=$?
# shardscore alone (an MPI singleton) in the bare root, as the device step runs it.
chroot "$R" env -i PATH=/usr/bin:/bin bash -c 'd=$(mktemp -d) && tar -C "$d" -xJf /repo/gpu-bundle.tar.xz &&
  B=$d/gpu-bundle && sp=$(echo /opt/torch/.venv/lib/python3*/site-packages) &&
  OPAL_PREFIX=$B/mpi/usr PMIX_INSTALL_PREFIX=$B/mpi/usr/lib/x86_64-linux-gnu/pmix2 \
  PMIX_MCA_mca_base_component_path=$B/mpi/usr/lib/x86_64-linux-gnu/pmix2/lib/pmix OMPI_MCA_plm=isolated LD_LIBRARY_PATH=$B/lib:$sp/nvidia/cublas/lib:$sp/nvidia/cudnn/lib \
  $B/bin/shardscore --version; r=$?; rm -rf "$d"; exit $r' || rc=$?
if [[ $rc == 0 ]] && ! grep -q "passed" "$R/out/summary.md"; then rc=1; fi
echo "check_gpu_bundle: $([[ $rc == 0 ]] && echo passed || echo "FAILED ($rc)") (summary: $R/out/summary.md)"
exit "$rc"
