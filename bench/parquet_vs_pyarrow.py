#!/usr/bin/env python3
"""Rows/s of `shardscore run` on a Parquet dataset against pyarrow's plain read of the same columns.

pyarrow.parquet.read_table(path, columns=[...]) of the feature columns is the I/O floor for this job: the
least any scorer of that file has to do. shardscore's time is end to end (mpirun start, model load, reading,
preprocessing, scoring with the demo model, writing a Parquet output folder with its manifest), so the ratio
shows what scoring and writing cost on top of reading.

  .venv/bin/python bench/parquet_vs_pyarrow.py                   # 10M rows, 2 ranks, 3 repeats
  .venv/bin/python bench/parquet_vs_pyarrow.py --rows 2000000 --repeats 1   # a quick trial

The dataset (the demo model's 30 features, float64, 1M-row row groups, snappy; ~2.3 GB for 10M rows) is
generated once into bench/out/ (git-ignored) and reused while --rows and --seed match. Runs alternate
(pyarrow, shardscore) so the page cache treats both alike; the median of the repeats is reported, with
min and max, as a markdown table with the machine, the commands and the date.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
MODEL = REPO / "data" / "demo_mlp.onnx"
FEATURES = 30
BLOCK = 1_000_000


def make_dataset(path: Path, rows: int, seed: int) -> None:
    stamp = path.with_suffix(".json")
    want = {"rows": rows, "seed": seed, "features": FEATURES}
    if path.exists() and stamp.exists() and json.loads(stamp.read_text()) == want:
        return
    print(f"[bench] writing {rows} rows x {FEATURES} float64 features to {path}", file=sys.stderr)
    from sklearn.datasets import load_breast_cancer
    base = load_breast_cancer().data.astype(np.float64)
    jitter = 0.05 * base.std(axis=0)
    rng = np.random.default_rng(seed)
    schema = pa.schema([("id", pa.int64())] + [(f"f{j:02d}", pa.float64()) for j in range(FEATURES)])
    with pq.ParquetWriter(path, schema, compression="snappy") as w:
        for begin in range(0, rows, BLOCK):
            n = min(BLOCK, rows - begin)
            x = base[rng.integers(0, base.shape[0], n)] + rng.standard_normal((n, FEATURES)) * jitter
            cols = [pa.array(np.arange(begin, begin + n, dtype=np.int64))] + [pa.array(x[:, j]) for j in range(FEATURES)]
            w.write_table(pa.Table.from_arrays(cols, schema=schema), row_group_size=BLOCK)
    stamp.write_text(json.dumps(want))


def time_pyarrow(path: Path, columns: list[str]) -> float:
    t0 = time.perf_counter()
    t = pq.read_table(path, columns=columns, use_threads=True)
    dt_ = time.perf_counter() - t0
    assert t.num_rows > 0
    return dt_


def time_shardscore(cmd: list[str], out: Path) -> float:
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    dt_ = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"shardscore failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return dt_


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bin", default=str(REPO / "build" / "shardscore"))
    args = ap.parse_args()

    OUT.mkdir(parents=True, exist_ok=True)
    data = OUT / f"parquet_bench_{args.rows}.parquet"
    make_dataset(data, args.rows, args.seed)
    columns = [f"f{j:02d}" for j in range(FEATURES)]
    demo = (REPO / "jobs" / "demo.toml").read_text()
    # The demo job's preprocessing, with this dataset and a Parquet output folder.
    job = OUT / "parquet_bench.toml"
    out = OUT / "parquet_bench_scores.parquet"
    lines, section = [], None
    for ln in demo.splitlines():
        s = ln.strip()
        if s.startswith("["):
            section = s
        if section == "[input]" and (s.startswith("path") or s.startswith("dataset")):
            continue
        if section == "[output]" and s.startswith("path"):
            continue
        if section == "[model]" and s.startswith("path"):
            continue
        lines.append(ln)
        if s == "[input]":
            lines.append(f'path = "{data}"')
            lines.append("columns = [" + ", ".join(f'"{c}"' for c in columns) + "]")
            lines.append('id_column = "id"')
        if s == "[output]":
            lines.append(f'path = "{out}"')
        if s == "[model]":
            lines.append(f'path = "{MODEL}"')
    job.write_text("\n".join(lines) + "\n")
    env_cmd = ["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", str(args.ranks),
               "-x", "OMPI_MCA_btl_vader_single_copy_mechanism=none"]
    cmd = env_cmd + [args.bin, "run", "--job", str(job), "--quiet"]

    time_pyarrow(data, columns)  # warm the page cache once for both
    pa_times, ss_times = [], []
    for _ in range(args.repeats):
        pa_times.append(time_pyarrow(data, columns))
        ss_times.append(time_shardscore(cmd, out))
    report = json.loads(Path(str(out) + ".report.json").read_text())
    assert report["rows_scored"] == args.rows

    def row(label, times):
        med = statistics.median(times)
        return f"| {label} | {args.rows / med:,.0f} | {med:.2f} [{min(times):.2f}–{max(times):.2f}] |"

    cpu = "unknown CPU"
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    ratio = statistics.median(pa_times) / statistics.median(ss_times)
    print(f"Parquet scoring, {args.rows:,} rows x {FEATURES} float64 features "
          f"({data.stat().st_size / 1e9:.2f} GB, snappy, 1M-row row groups), demo MLP, median of {args.repeats}\n")
    print("| | rows/s | seconds, median [min–max] |\n|---|---:|---:|")
    print(row(f"pyarrow `read_table(columns=30 features)` (use_threads, {os.cpu_count()} cores)", pa_times))
    print(row(f"`shardscore run` at {args.ranks} ranks, end to end, Parquet out", ss_times))
    print(f"\nshardscore / pyarrow read: {ratio:.2f}\n")
    print(f"- machine: {platform.node()}, {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"pyarrow {pa.__version__}")
    print(f"- command: `{' '.join(cmd)}`")
    print(f"- date: {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
