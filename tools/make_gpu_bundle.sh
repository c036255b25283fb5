#!/usr/bin/env bash
# Packs what tools/gpu_check.sh needs on a GPU machine that has an NVIDIA driver, the CUDA toolkit
# (13) and cuDNN 9 but none of shardscore's other dependencies and no network: the program and the
# CUDA test binaries from build/, stripped, every shared library they link except glibc's, the GPU
# driver's and the large CUDA libraries that machine has itself (cuBLAS, cuBLASLt, cuDNN), and
# Open MPI with its plugins and help files (relocated there with OPAL_PREFIX and PMIX_PREFIX).
#
#   tools/make_gpu_bundle.sh [OUT.tar.xz]     default: gpu-bundle.tar.xz in the repository root
#
# Build first (scripts/setup.sh). The archive is about 54 MB; the device tool carries it with
# `carry: ["gpu-bundle.tar.xz"]` and tools/gpu_check.sh unpacks it (with xz-utils: see below).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${SHARDSCORE_BUILD_DIR:-$root/build}"
out="${1:-$root/gpu-bundle.tar.xz}"
bins=(shardscore tests/test_ops tests/test_engine tests/test_cuda_device tests/test_onnx_node_conformance bench/engine_bench
      bench/cudnn_conv_layouts)
for b in "${bins[@]}"; do
  [[ -x $build/$b ]] || { echo "make_gpu_bundle: $build/$b is missing: build with CUDA first (scripts/setup.sh)" >&2; exit 2; }
done

stage="$(mktemp -d /tmp/shardscore-gpu-bundle.XXXXXX)"
trap 'rm -rf "$stage"' EXIT
b="$stage/gpu-bundle"
mkdir -p "$b/bin" "$b/lib" "$b/lib-cxx" "$b/mpi/usr/bin" "$b/mpi/usr/lib/x86_64-linux-gnu" "$b/mpi/usr/share"
for x in "${bins[@]}"; do
  cp "$build/$x" "$b/bin/"
  strip --strip-unneeded "$b/bin/$(basename "$x")"
done

# ONNX's test data (the pinned onnx wheel's) for test_onnx_node_conformance: the folders it runs,
# those whose ops are in the op table (a few MB compressed), as <data set>/<folder>.
mkdir -p "$b/onnx-data"
data_dir="$("$root/.venv/bin/python" -c 'import onnx, os; print(os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data"))')"
"$build/tests/test_onnx_node_conformance" --gtest_list_tests |
  sed -n 's/^  MatchesOnnxReference\/cpu__\([a-z_]*\)__\(test_[^ ]*\).*/\1 \2/p' | while read -r set t; do
    set="${set//_/-}"
    mkdir -p "$b/onnx-data/$set" && cp -r "$data_dir/$set/$t" "$b/onnx-data/$set/"
  done
[[ -d $b/onnx-data/node ]] || { echo "make_gpu_bundle: no ONNX test data folders listed" >&2; exit 2; }

# Open MPI 4.1 (Debian's prefix is /usr) and its PMIx, laid out under mpi/usr.
ompi=/usr/lib/x86_64-linux-gnu/openmpi
cp -a "$ompi" "$b/mpi/usr/lib/x86_64-linux-gnu/"
rm -rf "$b/mpi/usr/lib/x86_64-linux-gnu/openmpi/include"
[[ -d /usr/lib/x86_64-linux-gnu/pmix2 ]] && cp -a /usr/lib/x86_64-linux-gnu/pmix2 "$b/mpi/usr/lib/x86_64-linux-gnu/"
for d in openmpi pmix; do [[ -d /usr/share/$d ]] && cp -a "/usr/share/$d" "$b/mpi/usr/share/"; done
for t in mpirun mpiexec orterun orted; do [[ -e /usr/bin/$t ]] && cp -L "/usr/bin/$t" "$b/mpi/usr/bin/"; done

# Every library the binaries, mpirun/orted and Open MPI's plugins link, but glibc's, the driver's
# and the CUDA libraries the GPU machine brings (they must match its driver; cuBLAS and cuDNN are
# also too large to carry).
{
  for x in "$b"/bin/* "$b"/mpi/usr/bin/*; do ldd "$x" 2>/dev/null || true; done
  find "$b/mpi" -name '*.so*' -type f -exec ldd {} \; 2>/dev/null || true
} | awk '/=> \// {print $3}' | sort -u | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so.*|libm.so.*|libmvec.so.*|libpthread.so.*|libdl.so.*|librt.so.*|libutil.so.*|ld-linux*|libresolv.so.*) ;;
    libcuda.so*|libnvidia*|libcublas*|libcudnn*) ;;
    # The C++ runtime only where the GPU machine's is older than the build's (gpu_check.sh decides).
    libstdc++.so.*|libgcc_s.so.*) cp -L "$lib" "$b/lib-cxx/" ;;
    *) cp -L "$lib" "$b/lib/" ;;
  esac
done
strip --strip-unneeded "$b"/lib/*.so* 2>/dev/null || true

cat >"$b/MANIFEST" <<MANIFEST
shardscore GPU bundle
commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet 2>/dev/null || echo " (with uncommitted changes)")
built: $(date -u +%Y-%m-%dT%H:%MZ) on $(. /etc/os-release && echo "$PRETTY_NAME")
$("$build/shardscore" --version)
MANIFEST
# The engine and its CUDA kernels are linked again into each of the five programs that link the
# engine (about 48 MB apiece): a dictionary larger than all of them lets xz store that once
# (measured on the same staged tree: -6's 8 MiB 69 MB, -9's 64 MiB 62.6 MB, 512 MiB 54.3 MB). It
# costs about 5.5 GB of memory and 3.5 minutes here (one thread: xz drops to one for that memory
# anyway), and 512 MiB to unpack, which GNU tar's xz-utils does; BusyBox's unxz stops at a 64 MiB
# dictionary and would call the archive corrupt.
tar -C "$stage" -cf - gpu-bundle | xz -T1 --lzma2=preset=9,dict=512MiB >"$out"
echo "make_gpu_bundle: $out ($(du -h "$out" | cut -f1))"
# The device tool carries 64 MiB in all: the archive and the working tree it travels with (the files
# git tracks, or would, under the repository root).
tree_bytes=$(git -C "$root" ls-files -z --cached --others --exclude-standard | (cd "$root" && du -cb --files0-from=- 2>/dev/null) |
  tail -1 | cut -f1)
total=$(($(stat -c %s "$out") + ${tree_bytes:-0}))
if ((total > 64 * 1024 * 1024)); then
  echo "make_gpu_bundle: $out and the working tree come to $total bytes, over the 64 MiB the device tool carries" >&2
  exit 1
fi
