#!/usr/bin/env bash
# Creates .venv-export (bench/requirements-export.txt): the Python environment that exports the
# benchmark models (bench/cpu_vs_onnxruntime.py) and the torch/transformers test fixtures
# (tests/fixtures/export_fixtures.py). PyPI's torch wheel brings CUDA libraries too (~6 GB in all);
# only its CPU side is used. Idempotent: does nothing when the environment matches the file.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv-export"
req="$root/bench/requirements-export.txt"
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)
if [[ -x $venv/bin/python && $(cat "$stamp" 2>/dev/null) == "$want" ]]; then
  echo "[setup_export_env] .venv-export up to date"
  exit 0
fi
py=/usr/bin/python3; [[ -x $py ]] || py=python3
"$py" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -r "$req"
echo "$want" > "$stamp"
echo "[setup_export_env] .venv-export ready"
