#!/usr/bin/env bash
# Idempotent setup: Debian packages, the project-local Python virtualenv (test oracles, data
# generation, and the pyarrow wheel whose Apache Arrow C++ libraries the build links for Parquet),
# and the CMake build (configured after the venv exists, so CMake finds Arrow there). Safe to run again: each step is skipped when already done.
#
#   scripts/setup.sh            # everything
#   SHARDSCORE_SKIP_BUILD=1 scripts/setup.sh   # packages and venv only
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

log() { printf '[setup] %s\n' "$*"; }

apt_packages=(
  build-essential cmake pkg-config git ca-certificates
  openmpi-bin libopenmpi-dev libhdf5-openmpi-dev hdf5-tools
  libtbb-dev libboost-program-options-dev libgtest-dev
  libonnx-dev libprotobuf-dev protobuf-compiler
  # ocl-icd-opencl-dev: Debian's dnnl-config.cmake requires OpenCL, which libdnnl-dev only recommends.
  libopenblas-dev libdnnl-dev ocl-icd-opencl-dev libtomlplusplus-dev nlohmann-json3-dev libssl-dev
  # OpenBLAS built without threads, which the binaries run with (CMakeLists.txt says why).
  libopenblas0-serial
  clang libclang-rt-14-dev
  # The Slurm template's test runs a one-node cluster of its own (tests/e2e/test_slurm.py); strace
  # watches the output reach the disk before its rename (tests/e2e/test_durable_output.py); the
  # metrics are pushed to a real Pushgateway (tests/e2e/test_metrics.py).
  slurm-wlm munge iproute2 strace prometheus-pushgateway
  python3 python3-venv python3-pip
)

missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  sudo_cmd=(); [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  apt_log="$(mktemp /tmp/shardscore-apt.XXXXXX)"
  if ! { "${sudo_cmd[@]}" apt-get update -qq &&
         DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$apt_log" 2>&1; then
    tail -n 30 "$apt_log" >&2
    log "apt-get failed (full log: $apt_log)"
    exit 1
  fi
  rm -f "$apt_log"
else
  log "Debian packages present"
fi

venv="$root/.venv"
req="$root/scripts/requirements.txt"
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)
if [[ ! -x $venv/bin/python ]] || [[ $(cat "$stamp" 2>/dev/null) != "$want" ]]; then
  log "creating Python virtualenv in .venv (test oracles and data generation)"
  # Debian's own interpreter where present: a fresh Debian 12 has no other.
  py=/usr/bin/python3; [[ -x $py ]] || py=python3
  "$py" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q -r "$req"
  echo "$want" > "$stamp"
  venv_changed=1
else
  log "Python virtualenv up to date"
fi

if [[ ${SHARDSCORE_SKIP_BUILD:-0} != 1 ]]; then
  build="$root/build"
  # A configure that failed leaves a CMakeCache.txt but no Makefile: configure again then.
  if [[ ! -f $build/CMakeCache.txt || ! -f $build/Makefile ]]; then
    log "configuring CMake build in build/"
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSHARDSCORE_PYTHON="$venv/bin/python" \
      ${SHARDSCORE_CMAKE_ARGS:-} >/dev/null
  elif [[ ${venv_changed:-0} == 1 ]]; then
    # The venv provides Apache Arrow C++ (the pyarrow wheel): configure again so CMake finds the new one.
    log "reconfiguring build/ for the new virtualenv (Arrow C++ comes from its pyarrow)"
    cmake -S "$root" -B "$build" >/dev/null
  fi
  log "building (this machine: $(nproc) cores)"
  cmake --build "$build" -j"$(nproc)"
fi
log "done"
