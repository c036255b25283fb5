#!/usr/bin/env bash
# Sets up (scripts/setup.sh), generates the demo input (1,000,000 rows, HDF5) if it is missing, and
# scores it with the demo model under `mpirun -np 2`. Output: build/demo/demo_scores.h5 and its
# .report.json. Set DEMO_ROWS or DEMO_RANKS to change the size or the rank count.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/env.sh
scripts/setup.sh

rows=${DEMO_ROWS:-1000000}
ranks=${DEMO_RANKS:-2}
input=build/demo/demo_input.h5
if [[ ! -f $input ]] || [[ $(cat "$input.rows" 2>/dev/null) != "$rows" ]]; then
  echo "[demo] generating $rows rows into $input"
  .venv/bin/python data/make_input.py --out "$input" --rows "$rows"
  echo "$rows" > "$input.rows"
fi
extra=(); ((ranks > 2)) && extra=(--oversubscribe)
echo "[demo] mpirun -np $ranks build/shardscore run --job jobs/demo.toml"
mpirun "${extra[@]}" -np "$ranks" build/shardscore run --job jobs/demo.toml
