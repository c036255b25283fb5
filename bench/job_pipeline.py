#!/usr/bin/env python3
"""How fast the job moves rows when the model costs nothing: shardscore's host pipeline next to a plain read of the
same HDF5 file, in the same run.

    python3 bench/job_pipeline.py [--shape images|features] [--rows N] [--threads 1 2] [--repeats 3] [--out DIR]
                                  [--data DIR] [--bin PATH] [--ab-direct]

Data, in the layouts bench/gpu_vs_pytorch.py writes, written once into --data:
  images    (default) uint8 images N x 224 x 224 x 3 (/images, chunks of 64 rows, batches of 256): ResNet-50's.
            Model: `images` uint8 [N, 224, 224, 3] -> Slice (one pixel) -> Cast -> Reshape [N, 3]. The rows reach
            the engine as stored, the bytes a CUDA job with preprocess.where = backend hands its GPU.
  features  float32 rows of 256 features (/features, chunks and batches of 65,536 rows): the tabular MLP's.
            Model: `X` float32 [N, 256] -> Slice (the first 10 features, the MLP's output size). The rows go
            through the host's preprocessing (the NaN and Inf counts of the quality checks), as on a GPU.
The model runs on the CPU backend and its work is nil: what is timed is reading, preprocessing, batching, handing
over and the collective write of the outputs, the part of a job that the GPU cannot speed up.

Sides, alternating, --repeats of each; medians with the slowest and fastest repeat:
  shardscore, T threads  `mpirun --bind-to none -np 1 shardscore run` with run.threads = T (--ab-direct: also with
                         SHARDSCORE_HDF5_DIRECT=0, its rows read through H5Dread instead of pread on its threads);
                         rows / the report's scoring_seconds (and rows / its seconds: the whole job, start-up included)
  h5py, new arrays       dataset[r:r + batch] for each batch: what a hand-written script does
  h5py, one buffer       read_direct into one reused array: the rate at which this machine reads the file
Writes DIR/job_pipeline.md (the table, with the machine, date and command) and DIR/job_pipeline.json.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BIN = os.environ.get("SHARDSCORE_BIN", str(ROOT / "build" / "shardscore"))
# shape -> dataset, row shape, dtype, chunk rows, batch rows, shard rows
SHAPES = {
    "images": ("images", (224, 224, 3), np.uint8, 64, 256, 4096),
    "features": ("features", (256,), np.float32, 65536, 65536, 524288),
}


def row_bytes(shape: str) -> int:
    _, row, dtype, *_ = SHAPES[shape]
    return int(np.prod(row)) * np.dtype(dtype).itemsize


def make_images(path: Path, rows: int, chunk: int = 64) -> None:
    """`rows` random uint8 images, written once."""
    make_data(path, rows, "images", chunk)


def make_data(path: Path, rows: int, shape: str, chunk: int | None = None) -> None:
    """`rows` random rows of `shape` (uint8 images uniform in [0, 256), float32 features standard normal), written once."""
    import h5py
    if path.exists():
        return
    name, row, dtype, default_chunk, _, _ = SHAPES[shape]
    chunk = min(chunk or default_chunk, rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    tmp = path.with_suffix(".tmp")
    step = max(1, (1 << 28) // row_bytes(shape))  # about 256 MB at a time
    with h5py.File(tmp, "w") as f:
        d = f.create_dataset(name, (rows, *row), dtype=dtype, chunks=(chunk, *row))
        for r in range(0, rows, step):
            n = min(step, rows - r)
            if dtype == np.uint8:
                d[r:r + n] = rng.integers(0, 256, size=(n, *row), dtype=np.uint8)
            else:
                d[r:r + n] = rng.standard_normal((n, *row), dtype=np.float32)
    tmp.rename(path)
    os.sync()  # flushed before anything is timed (the first reader of a file still being written back is slower)


def nil_model(path: Path, shape: str = "images") -> None:
    """A model that costs nothing: an image's first pixel as float32 [N, 3], or a row's first 10 features."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    if shape == "features":
        consts = [numpy_helper.from_array(np.array(v, np.int64), n) for n, v in (("starts", [0]), ("ends", [10]), ("axes", [1]))]
        nodes = [helper.make_node("Slice", ["X", "starts", "ends", "axes"], ["Y"])]
        graph = helper.make_graph(nodes, "nil", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 256])],
                                  [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", 10])], consts)
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
        return
    consts = [numpy_helper.from_array(np.array(v, np.int64), n)
              for n, v in (("starts", [0, 0]), ("ends", [1, 1]), ("axes", [1, 2]), ("shape", [-1, 3]))]
    nodes = [helper.make_node("Slice", ["images", "starts", "ends", "axes"], ["pixel"]),
             helper.make_node("Cast", ["pixel"], ["pixel_f"], to=TensorProto.FLOAT),
             helper.make_node("Reshape", ["pixel_f", "shape"], ["first_pixel"])]
    graph = helper.make_graph(nodes, "nil", [helper.make_tensor_value_info("images", TensorProto.UINT8, ["N", 224, 224, 3])],
                              [helper.make_tensor_value_info("first_pixel", TensorProto.FLOAT, ["N", 3])], consts)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def run_job(data: Path, threads: int, work: Path, shape: str = "images", env: dict | None = None) -> dict:
    """One shardscore job over the file; rows/s from its report. `env`: variables for it (switches)."""
    name, _, _, _, batch, shard = SHAPES[shape]
    model = work / f"nil_{shape}.onnx"
    if not model.exists():
        nil_model(model, shape)
    out = work / f"nil_{shape}_t{threads}.h5"
    job = work / f"nil_{shape}_t{threads}.toml"
    job.write_text(f'[input]\npath = "{data}"\ndataset = "/{name}"\n[model]\npath = "{model}"\n'
                   f'[output]\npath = "{out}"\noverwrite = true\n'
                   f'[run]\nbatch_size = {batch}\nshard_rows = {shard}\nthreads = {threads}\nbackend = "cpu"\n')
    cmd = ["mpirun", "--allow-run-as-root", "--bind-to", "none", "-np", "1", BIN, "run", "--job", str(job)]
    p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if p.returncode != 0:
        errors = [ln for ln in p.stderr.splitlines() if "error" in ln]
        raise RuntimeError(f"{shlex.join(cmd)}: exit {p.returncode}: {errors[0] if errors else p.stderr[-300:]}")
    report = json.loads(Path(str(out) + ".report.json").read_text())
    out.unlink(missing_ok=True)
    n = report["rows_scored"]
    # A binary older than the report's scoring_seconds (--bin, for a before/after) gives the whole job's rate only.
    scoring = report.get("scoring_seconds")
    return {"rows": n, "rows_per_s": n / scoring if scoring else None, "rows_per_s_whole_job": n / report["seconds"],
            "threads": report["threads_per_rank"], "command": shlex.join(cmd)}


def read_new_arrays(data: Path, rows: int, shape: str = "images") -> dict:
    import h5py
    name, _, _, _, batch, _ = SHAPES[shape]
    with h5py.File(data, "r") as f:
        d = f[name]
        t0 = time.perf_counter()
        for r in range(0, rows, batch):
            d[r:min(rows, r + batch)]
        wall = time.perf_counter() - t0
    return {"rows": rows, "rows_per_s": rows / wall}


def read_one_buffer(data: Path, rows: int, shape: str = "images") -> dict:
    import h5py
    name, row, dtype, _, batch, _ = SHAPES[shape]
    buf = np.empty((batch, *row), dtype)
    with h5py.File(data, "r") as f:
        d = f[name]
        t0 = time.perf_counter()
        for r in range(0, rows, batch):
            n = min(rows, r + batch) - r
            d.read_direct(buf, np.s_[r:r + n], np.s_[0:n])
        wall = time.perf_counter() - t0
    return {"rows": rows, "rows_per_s": rows / wall}


def measure(data: Path, rows: int, threads: list[int], repeats: int, work: Path, shape: str = "images",
            ab_direct: bool = False) -> list[dict]:
    """Every side `repeats` times, alternating; one row per side: median, slowest and fastest rows/s."""
    sides = [(f"shardscore, {t} thread(s)", lambda t=t: run_job(data, t, work, shape)) for t in threads]
    if ab_direct:  # the same binary reading through H5Dread (one thread reads) instead of pread on all of them
        sides += [(f"shardscore, {t} thread(s), SHARDSCORE_HDF5_DIRECT=0",
                   lambda t=t: run_job(data, t, work, shape, {"SHARDSCORE_HDF5_DIRECT": "0"})) for t in threads]
    sides += [("h5py, new arrays", lambda: read_new_arrays(data, rows, shape)),
              ("h5py, one buffer", lambda: read_one_buffer(data, rows, shape))]
    runs: dict[str, list[dict]] = {name: [] for name, _ in sides}
    for _ in range(repeats):
        for name, fn in sides:
            runs[name].append(fn())
    rows_out = []
    for name, _ in sides:
        rates = [r["rows_per_s"] for r in runs[name] if r["rows_per_s"]]
        row = {"side": name, "rows": rows}
        if rates:
            row.update(median=statistics.median(rates), min=min(rates), max=max(rates),
                       gb_per_s=statistics.median(rates) * row_bytes(shape) / 1e9)
        whole = [r["rows_per_s_whole_job"] for r in runs[name] if "rows_per_s_whole_job" in r]
        if whole:
            row["median_whole_job"] = statistics.median(whole)
            row["threads"] = runs[name][0]["threads"]
            row["command"] = runs[name][0]["command"]
        rows_out.append(row)
    return rows_out


def table(results: list[dict]) -> list[str]:
    lines = ["| side | rows/s, median (slowest–fastest) | GB/s | note |", "|---|---:|---:|---|"]
    for r in results:
        note = f"whole job, start-up included: {r['median_whole_job']:,.0f} rows/s" if "median_whole_job" in r else ""
        if "median" in r:
            lines.append(f"| {r['side']} | {r['median']:,.0f} ({r['min']:,.0f}–{r['max']:,.0f}) | {r['gb_per_s']:.2f} | {note} |")
        else:
            lines.append(f"| {r['side']} | - | - | {note} (no scoring_seconds in this binary's report) |")
    return lines


def main() -> None:
    global BIN
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", choices=list(SHAPES), default="images")
    ap.add_argument("--rows", type=int, default=0, help="rows in the file (default: 8192 images, 1,048,576 feature rows)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, os.cpu_count() or 1])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "bench" / "out"))
    ap.add_argument("--data", default=str(ROOT / "bench" / "out" / "job_pipeline"))
    ap.add_argument("--ab-direct", action="store_true",
                    help="also run the job with SHARDSCORE_HDF5_DIRECT=0 (reads through H5Dread, not pread)")
    ap.add_argument("--bin", default=BIN, help="the shardscore binary (default: build/shardscore or $SHARDSCORE_BIN)")
    args = ap.parse_args()
    BIN = args.bin
    rows = args.rows or (8192 if args.shape == "images" else 1 << 20)
    data = Path(args.data) / f"{args.shape}_{rows}.h5"
    make_data(data, rows, args.shape)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    threads = sorted(set(args.threads))
    with tempfile.TemporaryDirectory(dir=args.data) as work:
        results = measure(data, rows, threads, args.repeats, Path(work), args.shape, args.ab_direct)
    what = "uint8 images 224x224x3" if args.shape == "images" else "float32 rows of 256 features"
    head = (f"{platform.node()}, {os.cpu_count()} CPUs; {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} "
            f"UTC; {rows} {what} ({rows * row_bytes(args.shape) / 1e9:.2f} GB), batch {SHAPES[args.shape][4]}; "
            f"command: {shlex.join(sys.argv)}")
    lines = [head, ""] + table(results)
    (out / "job_pipeline.md").write_text("\n".join(lines) + "\n")
    (out / "job_pipeline.json").write_text(json.dumps({"head": head, "results": results}, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
