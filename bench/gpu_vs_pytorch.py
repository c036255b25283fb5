#!/usr/bin/env python3
"""shardscore's CUDA backend against PyTorch on the same GPU, through the whole job, in the same run.

    python3 bench/gpu_vs_pytorch.py [--out DIR] [--models resnet50 bert-base mlp] [--precisions fp16 fp32]

Run on the GPU machine by tools/gpu_check.sh (GPU_CHECK_BENCH=1), which puts the bundle's shardscore
(SHARDSCORE_BIN) and mpirun on PATH. Needs torch, h5py, numpy and onnx there (transformers for BERT).

Models: the random-weight exports of bench/cpu_vs_onnxruntime.py (ResNet-50 224x224, BERT-base sequence 128,
the 1M-parameter MLP), exported by PyTorch on that machine into bench/out/.
Data (written once into --data, local disk; same file for both sides):
  resnet50   uint8 images N x 224 x 224 x 3 (NHWC, as image datasets are stored), /images
  bert-base  int64 input_ids (uniform in [0, 1000)), attention_mask (ones), token_type_ids (zeros), N x 128
  mlp        float32 features N x 256, /features
Each side reads the HDF5 file, preprocesses, runs the model and hands back the outputs on the host (BERT-base:
pooler_output, the sentence embedding, on both sides: the job writes only it (output.outputs) and the loop copies
only it back; last_hidden_state, 393 KB a row in float32, would make both sides a test of moving 6.4 GB, which
the PyTorch loop would only copy to host memory while the job writes it to disk):
  shardscore   `mpirun --bind-to none -np 1 shardscore run --backend cuda --precision P` (one rank, all of the
               machine's cores: mpirun would bind a lone rank to one core), writing its HDF5 output; items/s = rows /
               the job's scoring time (the report's `scoring_seconds`: reading, preprocessing, the model and writing,
               its first batches included), and, more pessimistic, rows / wall time of the whole process (model
               load, cuDNN and cuBLAS start-up included)
  PyTorch      a hand-written loop: h5py reads each batch, pinned host memory, copy to the GPU, normalize
               there (images: /255, ImageNet mean/std, channels_last), the model in eval / inference_mode, the
               outputs copied back; the model in float16 (eager, channels_last for ResNet-50) or float32 (TF32
               off for convolutions and products alike, as shardscore's fp32; `--precisions tf32` compares
               with TF32 on both sides), BERT with transformers' default attention (SDPA where the installed
               version has it; the table names it), and torch.compile where it works; items/s = rows / wall time of the loop after warm-up batches
               (PyTorch's own models: torchvision's ResNet-50, transformers' BertModel, the same MLP, random
               weights; the same architectures as the ONNX files, compared on throughput)
  mlp          also the raw HDF5 read rate of the same file (h5py, the same batches): the ceiling a job that
               reads its input can reach
  resnet50,    also the host's ceiling (bench/job_pipeline.py on the same file): the job with a model that costs
  mlp          nothing (uint8 rows to a first-pixel Slice, or float32 rows to their first 10 features, CPU backend),
               and h5py reading into one reused buffer
  engine only  bench/engine_bench --backend cuda (SHARDSCORE_ENGINE_BENCH): the engine alone, 4 batches in flight,
               random inputs, no file; and at fp16 a per-op profile (SHARDSCORE_CUDA_PROFILE=1) into the logs;
               next to PyTorch's model alone (random inputs on the device, best of 3 x 10 batches)
  2 ranks      ResNet-50 at fp16 also at `mpirun -np 2` sharing the GPU: more than one rank's host side
  switches     ResNet-50 at fp16 also with SHARDSCORE_CUDA_NHWC=1 and SHARDSCORE_CUDA_CUDNN_EPILOGUE=1 (engine
               alone and whole job): what making them the default would give, with SHARDSCORE_CUDA_LANES=3
               (fewer lanes, fewer warm-up batches), and with SHARDSCORE_HDF5_DIRECT=0 (its images read through
               H5Dread on one thread, not with pread on all); BERT-base at fp16 also with
               SHARDSCORE_CUDA_CUBLASLT_BIAS=0 and with SHARDSCORE_FUSE_ATTENTION=0 (engine alone): what
               cuBLASLt's bias epilogue and the fused attention gain
Writes DIR/gpu_vs_pytorch.md (table with the GPU, versions, date, command) and DIR/gpu_vs_pytorch.json.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import cpu_vs_onnxruntime as cpu_bench  # noqa: E402  (the model exports)
import job_pipeline  # noqa: E402  (the host pipeline's ceiling)

BIN = os.environ.get("SHARDSCORE_BIN", str(ROOT / "build" / "shardscore"))
ENGINE_BENCH = os.environ.get("SHARDSCORE_ENGINE_BENCH", str(ROOT / "build" / "bench" / "engine_bench"))
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]
# model -> rows, batch, shard rows, chunk rows
SIZES = {"resnet50": (32768, 256, 4096, 64), "bert-base": (16384, 256, 4096, 256), "mlp": (4_194_304, 65536, 524288, 65536)}


def make_data(model: str, path: Path, rows: int, chunk: int) -> dict[str, str]:
    """Writes the input file once; returns model input name -> dataset."""
    import h5py
    rng = np.random.default_rng(7)
    if model == "resnet50":
        names = {"images": "/images"}
    elif model == "bert-base":
        names = {"input_ids": "/input_ids", "attention_mask": "/attention_mask", "token_type_ids": "/token_type_ids"}
    else:
        names = {"X": "/features"}
    if path.exists():
        return names
    if model in ("resnet50", "mlp"):  # the layouts and recipes of job_pipeline.py's images and features
        job_pipeline.make_data(path, rows, "images" if model == "resnet50" else "features", chunk)
        return names
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with h5py.File(tmp, "w") as f:
        f.create_dataset("input_ids", data=rng.integers(0, 1000, size=(rows, 128)), chunks=(chunk, 128))
        f.create_dataset("attention_mask", data=np.ones((rows, 128), np.int64), chunks=(chunk, 128))
        f.create_dataset("token_type_ids", data=np.zeros((rows, 128), np.int64), chunks=(chunk, 128))
    tmp.rename(path)
    # Flushed before anything is timed: the kernel writing the new file back to disk while a side
    # reads it slowed the first reader to half its rate on the build machine.
    os.sync()
    return names


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(v)


def run_shardscore(model: str, onnx_path: Path, data: Path, names: dict, precision: str, work: Path,
                   ranks: int = 1, switches: dict | None = None) -> dict:
    """The whole job; `switches`: SHARDSCORE_CUDA_* variables for it (the measuring switches)."""
    rows, batch, shard, _ = SIZES[model]
    tag = f"{model}_{precision}" + (f"_np{ranks}" if ranks > 1 else "") + "".join(
        f"_{k.removeprefix('SHARDSCORE_CUDA_').lower()}{v}" for k, v in (switches or {}).items())
    out = work / f"{tag}.h5"
    job = {
        "input": {"path": str(data), **({"datasets": names} if len(names) > 1 else {"dataset": next(iter(names.values()))})},
        "model": {"path": str(onnx_path)},
        "output": {"path": str(out), "overwrite": True},
        "run": {"batch_size": batch, "shard_rows": shard, "backend": "cuda", "precision": precision},
    }
    if model == "resnet50":
        job["preprocess"] = {"layout": "nhwc", "scale": 1 / 255, "mean": MEAN, "std": STD}
    if model == "bert-base":
        job["output"]["outputs"] = ["pooler_output"]  # what the PyTorch loop hands back too
    text = "\n".join(f"[{s}]\n" + "\n".join(f"{k} = {toml_value(v)}" for k, v in body.items()) for s, body in job.items())
    job_path = work / f"{tag}.toml"
    job_path.write_text(text + "\n")
    cmd = ["mpirun", "--allow-run-as-root", "--bind-to", "none", "-np", str(ranks)]
    for k in switches or {}:
        cmd += ["-x", k]
    cmd += [BIN, "run", "--job", str(job_path)]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(switches or {})})
    wall = time.perf_counter() - t0
    (work / f"{tag}.log").write_text(p.stdout + p.stderr)
    if p.returncode != 0:
        errors = [ln for ln in p.stderr.splitlines() if ln.startswith("shardscore: error:")]
        return {"error": f"exit {p.returncode}: {errors[0] if errors else p.stderr.strip()[-300:]}"}
    report = json.loads(Path(str(out) + ".report.json").read_text()) if Path(str(out) + ".report.json").exists() else {}
    res = {"wall_s": wall, "items_per_s_wall": rows / wall, "command": shlex.join(cmd),
           "job_seconds": report.get("seconds"), "scoring_seconds": report.get("scoring_seconds"),
           "threads": report.get("threads_per_rank")}
    res["items_per_s"] = rows / (res["scoring_seconds"] or res["job_seconds"] or wall)
    out.unlink(missing_ok=True)
    return res


def engine_bench(model: str, onnx_path: Path, precision: str, log: Path, *, threads: int, warmup: int, repeats: int,
                 nhwc: bool, profile: bool = False, json_out: bool = False, cudnn_epilogue: bool = False,
                 lt_bias: bool = True, fuse_attention: bool = True):
    """bench/engine_bench on the CUDA backend at the model's batch size; stdout and stderr into `log`. Returns
    (command, completed process), or (command, None) when the program cannot be started."""
    _, batch, _, _ = SIZES[model]
    cmd = [ENGINE_BENCH, "--model", str(onnx_path), "--batch", str(batch), "--threads", str(threads), "--warmup",
           str(warmup), "--repeats", str(repeats), "--backend", "cuda", "--precision", precision] + (["--json"] if json_out else [])
    if model == "bert-base":
        cmd += ["--outputs", "pooler_output"]  # as the job keeps (run_shardscore)
    env = dict(os.environ, SHARDSCORE_CUDA_NHWC="1" if nhwc else "0", SHARDSCORE_CUDA_PROFILE="1" if profile else "0",
               SHARDSCORE_CUDA_CUDNN_EPILOGUE="1" if cudnn_epilogue else "0",
               SHARDSCORE_CUDA_CUBLASLT_BIAS="1" if lt_bias else "0",
               SHARDSCORE_FUSE_ATTENTION="1" if fuse_attention else "0")
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    except OSError as e:
        log.write_text(f"{ENGINE_BENCH}: {e.strerror}\n")
        return cmd, None
    log.write_text(shlex.join(cmd) + "\n" + p.stdout + p.stderr)
    return cmd, p


def run_engine_only(model: str, onnx_path: Path, precision: str, work: Path, nhwc: bool = False,
                    cudnn_epilogue: bool = False, lt_bias: bool = True, fuse_attention: bool = True) -> dict:
    """The engine alone on the GPU (bench/engine_bench --backend cuda): no reading, preprocessing or writing, 4
    batches in flight (4 lanes), random inputs of the model's types; items/s over the median repeat. Tells the
    engine's rate from the whole job's."""
    log = work / (f"{model}_{precision}_engine{'_nhwc' if nhwc else ''}{'_cudnn_epilogue' if cudnn_epilogue else ''}"
                  f"{'' if lt_bias else '_no_lt_bias'}{'' if fuse_attention else '_unfused_attention'}.log")
    cmd, p = engine_bench(model, onnx_path, precision, log, threads=4, warmup=2, repeats=5, nhwc=nhwc, json_out=True,
                          cudnn_epilogue=cudnn_epilogue, lt_bias=lt_bias, fuse_attention=fuse_attention)
    if p is None:
        return {"error": log.read_text().strip()}
    try:
        r = json.loads([ln for ln in p.stdout.splitlines() if ln.startswith("{")][-1])
    except (IndexError, json.JSONDecodeError):
        return {"error": f"exit {p.returncode}: {p.stderr.strip()[-300:]}"}
    if "error" in r:
        return {"error": r["error"]}
    return {"items_per_s": r["items_per_s"], "command": shlex.join(cmd)}


def profile_engine(model: str, onnx_path: Path, precision: str, work: Path, nhwc: bool = False) -> None:
    """Where the engine's time goes on the GPU: SHARDSCORE_CUDA_PROFILE=1 (every step timed, graphs off), one
    lane, into <work>/<model>_<precision>_profile[_nhwc].log (in gpu_check's logs archive)."""
    log = work / f"{model}_{precision}_profile{'_nhwc' if nhwc else ''}.log"
    engine_bench(model, onnx_path, precision, log, threads=1, warmup=1, repeats=2, nhwc=nhwc, profile=True)


def torch_model(model: str, onnx_name: str):
    """The same architecture and weights as the ONNX file: rebuilt from the ONNX initializers by onnx2torch
    would add a dependency; instead the export code's own modules with the same seed (random weights: the
    throughput, not the values, is compared; outputs are checked against shardscore's separately)."""
    import torch
    torch.manual_seed(cpu_bench.SEED if hasattr(cpu_bench, "SEED") else 0)
    if model == "resnet50":
        import torchvision
        return torchvision.models.resnet50(weights=None)
    if model == "bert-base":
        from transformers import BertConfig, BertModel
        # transformers' default attention (SDPA where this version has it): what a user's script runs. The
        # ONNX file was exported with the eager attention, the same function written out op by op.
        return BertModel(BertConfig())
    return torch.nn.Sequential(torch.nn.Linear(256, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 512), torch.nn.ReLU(),
                               torch.nn.Linear(512, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))


def torch_precision(precision: str):
    """The dtype of PyTorch's side, and its TF32 switches set to match shardscore's precision: float32 means
    float32 on both sides (torch.backends.cudnn.allow_tf32 is on by default, so PyTorch's "fp32" convolutions
    would otherwise run on TF32 tensor cores), and --precision tf32 is compared with TF32 on."""
    import torch
    torch.backends.cudnn.allow_tf32 = precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    return {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision, torch.float32)


def torch_notes(model: str, net) -> dict:
    """What the table should say about PyTorch's side: BERT's attention implementation."""
    attn = getattr(getattr(net, "config", None), "_attn_implementation", None)
    return {"torch_note": f"attention: {attn}"} if model == "bert-base" and attn else {}


def run_torch(model: str, data: Path, names: dict, precision: str, compiled: bool) -> dict:
    try:
        return _run_torch(model, data, names, precision, compiled)
    except Exception as e:  # noqa: BLE001  (a failing side is a row of the table, not the end of the run)
        return {"error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}


def _run_torch(model: str, data: Path, names: dict, precision: str, compiled: bool) -> dict:
    import h5py
    import torch
    rows, batch, _, _ = SIZES[model]
    net = torch_model(model, "").eval().cuda()
    notes = torch_notes(model, net)
    dtype = torch_precision(precision)
    net = net.to(dtype)
    if model == "resnet50":
        net = net.to(memory_format=torch.channels_last)
    if compiled:
        try:
            net = torch.compile(net)
        except Exception as e:  # noqa: BLE001
            return {"error": f"torch.compile: {e}"}
    mean = torch.tensor(MEAN, device="cuda").view(1, 3, 1, 1)
    std = torch.tensor(STD, device="cuda").view(1, 3, 1, 1)

    def batches(f):
        for r in range(0, rows, batch):
            yield {k: torch.from_numpy(f[ds.lstrip("/")][r:r + batch]).pin_memory() for k, ds in names.items()}

    def step(b):
        with torch.inference_mode():
            if model == "resnet50":
                x = b["images"].cuda(non_blocking=True).permute(0, 3, 1, 2).to(dtype).div_(255)
                x = ((x - mean.to(dtype)) / std.to(dtype)).contiguous(memory_format=torch.channels_last)
                y = net(x)
            elif model == "bert-base":
                y = net(**{k: v.cuda(non_blocking=True) for k, v in b.items()}).pooler_output
            else:
                y = net(b["X"].cuda(non_blocking=True).to(dtype))
            return y.float().cpu()

    try:
        with h5py.File(data, "r") as f:
            first = next(batches(f))
            for _ in range(3):
                step(first)  # warm-up (and compilation)
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            for b in batches(f):
                step(b)
            torch.cuda.synchronize()
            wall = time.perf_counter() - t0
    except Exception as e:  # noqa: BLE001
        return {"error": f"{type(e).__name__}: {e}"}
    return {"wall_s": wall, "items_per_s": rows / wall, **notes}


def run_torch_model_only(model: str, precision: str) -> dict:
    """PyTorch's model alone on the GPU (eager, channels_last for ResNet-50): random inputs already on the
    device, no file, no copies; the peer of "shardscore engine only". Best of 3 timings of 10 batches."""
    try:
        import torch
        _, batch, _, _ = SIZES[model]
        net = torch_model(model, "").eval().cuda()
        notes = torch_notes(model, net)
        dtype = torch_precision(precision)
        net = net.to(dtype)
        with torch.inference_mode():
            if model == "resnet50":
                net = net.to(memory_format=torch.channels_last)
                x = torch.randn(batch, 3, 224, 224, device="cuda", dtype=dtype).contiguous(memory_format=torch.channels_last)
                call = lambda: net(x)  # noqa: E731
            elif model == "bert-base":
                ids = torch.randint(0, 1000, (batch, 128), device="cuda")
                ones, zeros = torch.ones_like(ids), torch.zeros_like(ids)
                call = lambda: net(input_ids=ids, attention_mask=ones, token_type_ids=zeros)  # noqa: E731
            else:
                x = torch.randn(batch, 256, device="cuda", dtype=dtype)
                call = lambda: net(x)  # noqa: E731
            for _ in range(3):
                call()
            best = float("inf")
            for _ in range(3):
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                for _ in range(10):
                    call()
                torch.cuda.synchronize()
                best = min(best, time.perf_counter() - t0)
        return {"items_per_s": 10 * batch / best, **notes}
    except Exception as e:  # noqa: BLE001
        return {"error": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}


def raw_read(data: Path, names: dict, model: str) -> dict:
    import h5py
    rows, batch, _, _ = SIZES[model]
    t0 = time.perf_counter()
    with h5py.File(data, "r") as f:
        for r in range(0, rows, batch):
            for ds in names.values():
                f[ds.lstrip("/")][r:r + batch]
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "items_per_s": rows / wall}


def host_ceiling(model: str, data: Path, work: Path, side: str) -> dict:
    """bench/job_pipeline.py's sides on the ResNet-50 or MLP file: how fast this machine's host side moves its rows."""
    shape = "images" if model == "resnet50" else "features"
    try:
        if side == "job":
            r = job_pipeline.run_job(data, os.cpu_count() or 1, work, shape)
            return {"items_per_s": r["rows_per_s"], "items_per_s_wall": r["rows_per_s_whole_job"],
                    "threads": r["threads"], "command": r["command"]}
        return {"items_per_s": job_pipeline.read_one_buffer(data, SIZES[model][0], shape)["rows_per_s"]}
    except Exception as e:  # noqa: BLE001
        return {"error": f"{type(e).__name__}: {str(e)[:300]}"}


def write_tables(out: Path, gpu: str, torch_version: str, results: list) -> list[str]:
    """Writes out/gpu_vs_pytorch.md (the table, with the GPU, versions, date and command) and .json."""
    lines = [f"GPU: {gpu}; torch {torch_version}; {platform.node()}; "
             f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; command: {shlex.join(sys.argv)}", "",
             "| model | precision | side | items/s | note |", "|---|---|---|---:|---|"]
    # Grouped by model and precision for reading (rows are measured bar-first, diagnostics after).
    models = list(SIZES)
    order = {"-": 0, "fp16": 1, "bf16": 2, "tf32": 3, "fp32": 4}
    ranked = sorted(results, key=lambda r: (models.index(r["model"]) if r["model"] in models else len(models),
                                            order.get(r["precision"], 5)))
    for r in ranked:
        note = r.get("error", r.get("torch_note", ""))
        if "items_per_s_wall" in r:
            note = (f"{r['threads']} thread(s); " if r.get("threads") else "") + \
                f"whole process incl. start-up: {r['items_per_s_wall']:,.0f}/s"
        ips = f"{r['items_per_s']:,.0f}" if "items_per_s" in r else "-"
        lines.append(f"| {r['model']} | {r['precision']} | {r['side']} | {ips} | {note} |")
    (out / "gpu_vs_pytorch.md").write_text("\n".join(lines) + "\n")
    (out / "gpu_vs_pytorch.json").write_text(json.dumps({"gpu": gpu, "torch": torch_version, "results": results}, indent=1))
    return lines


def main() -> None:
    started = time.perf_counter()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "bench" / "out"))
    ap.add_argument("--data", default="/tmp/shardscore-gpu-bench")
    ap.add_argument("--models", nargs="+", default=["resnet50", "bert-base", "mlp"])
    ap.add_argument("--precisions", nargs="+", default=["fp16", "fp32"])
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile runs")
    ap.add_argument("--rows", type=int, default=0, help="rows per model instead of the defaults (a quick check)")
    ap.add_argument("--budget", type=float, default=0,
                    help="seconds this run may take (0: no limit). shardscore and eager PyTorch run first, for "
                         "every model; the torch.compile rows follow while the time left covers their compilation, "
                         "and are listed as skipped otherwise")
    args = ap.parse_args()
    if args.rows:
        for m, (_, batch, shard, chunk) in list(SIZES.items()):
            b = min(batch, args.rows)
            SIZES[m] = (args.rows, b, max(b, min(shard, args.rows)), min(chunk, b))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.data)
    work.mkdir(parents=True, exist_ok=True)
    cpu_bench.export_models(args.models, reexport=False)
    print(f"models exported after {time.perf_counter() - started:.0f} s", flush=True)
    import torch
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
    results = []

    def add(row):
        results.append(row)
        print(json.dumps(row), flush=True)
        write_tables(out, gpu, torch.__version__, results)  # after every row: a run stopped early keeps its rows

    def side_name(model, compiled):
        return "PyTorch " + ("torch.compile" if compiled else "eager") + (" channels_last" if model == "resnet50" else "")

    # The data, and the host's own ceilings on it, first.
    inputs = {}
    for model in args.models:
        rows, _, _, chunk = SIZES[model]
        data = work / f"{model}.h5"
        inputs[model] = (data, make_data(model, data, rows, chunk))
        names = inputs[model][1]
        if model == "mlp":
            add({"model": model, "side": "raw HDF5 read (h5py)", "precision": "-", **raw_read(data, names, model)})
        if model in ("resnet50", "mlp"):
            # The plain read first: a first pass over a new file can be slower, and the job should not
            # be the one to pay for it.
            add({"model": model, "side": "host ceiling: h5py into one buffer", "precision": "-",
                 **host_ceiling(model, data, work, "read")})
            add({"model": model, "side": "host ceiling: shardscore, a model that costs nothing (CPU)", "precision": "-",
                 **host_ceiling(model, data, work, "job")})
    # Then the bar's rows for every model and precision (the whole job next to PyTorch's loop), so
    # that a run stopped by its time limit has them; the diagnostic rows after.
    for precision in args.precisions:
        for model in args.models:
            data, names = inputs[model]
            onnx_path = cpu_bench.OUT / cpu_bench.MODELS[model][0]
            add({"model": model, "side": "shardscore", "precision": precision,
                 **run_shardscore(model, onnx_path, data, names, precision, work)})
            add({"model": model, "side": side_name(model, False), "precision": precision,
                 **run_torch(model, data, names, precision, False)})
    for precision in args.precisions:
        for model in args.models:
            data, names = inputs[model]
            onnx_path = cpu_bench.OUT / cpu_bench.MODELS[model][0]
            add({"model": model, "side": "shardscore engine only (no I/O)", "precision": precision,
                 **run_engine_only(model, onnx_path, precision, work)})
            add({"model": model, "side": side_name(model, False) + ", model only (no I/O)", "precision": precision,
                 **run_torch_model_only(model, precision)})
            if model == "resnet50":  # the convolutions in NHWC (SHARDSCORE_CUDA_NHWC=1, off by default): A/B
                add({"model": model, "side": "shardscore engine only, NHWC convs", "precision": precision,
                     **run_engine_only(model, onnx_path, precision, work, nhwc=True)})
                # ... with bias, residual and Relu inside cuDNN's fused call (SHARDSCORE_CUDA_CUDNN_EPILOGUE=1)
                add({"model": model, "side": "shardscore engine only, NHWC convs, cuDNN epilogue", "precision": precision,
                     **run_engine_only(model, onnx_path, precision, work, nhwc=True, cudnn_epilogue=True)})
            if model == "bert-base" and precision == "fp16":  # the bias broadcast path, for the A/B of cuBLASLt's epilogue
                add({"model": model, "side": "shardscore engine only, bias broadcast (no cuBLASLt bias)", "precision": precision,
                     **run_engine_only(model, onnx_path, precision, work, lt_bias=False)})
                # ... and attention as the model's op chain (SHARDSCORE_FUSE_ATTENTION=0): what the fusion gains
                add({"model": model, "side": "shardscore engine only, attention unfused", "precision": precision,
                     **run_engine_only(model, onnx_path, precision, work, fuse_attention=False)})
            if model == "resnet50" and precision == "fp16":  # two ranks share the GPU: is one rank's host side the limit?
                add({"model": model, "side": "shardscore, 2 ranks on the one GPU", "precision": precision,
                     **run_shardscore(model, onnx_path, data, names, precision, work, ranks=2)})
                # Three lanes instead of eight: fewer warm-up batches (three per lane) in a short run.
                add({"model": model, "side": "shardscore, 3 lanes", "precision": precision,
                     **run_shardscore(model, onnx_path, data, names, precision, work,
                                      switches={"SHARDSCORE_CUDA_LANES": "3"})})
                # Rows read through H5Dread on one thread (SHARDSCORE_HDF5_DIRECT=0) instead of pread on all.
                add({"model": model, "side": "shardscore, HDF5 reads through H5Dread", "precision": precision,
                     **run_shardscore(model, onnx_path, data, names, precision, work,
                                      switches={"SHARDSCORE_HDF5_DIRECT": "0"})})
                # The whole job with both measuring switches: what making them the default would give.
                add({"model": model, "side": "shardscore, NHWC convs + cuDNN epilogue", "precision": precision,
                     **run_shardscore(model, onnx_path, data, names, precision, work,
                                      switches={"SHARDSCORE_CUDA_NHWC": "1", "SHARDSCORE_CUDA_CUDNN_EPILOGUE": "1"})})
    for model in args.models:  # the per-op profile at fp16, the bar's precision (logs only, not a table row)
        if "fp16" in args.precisions:
            profile_engine(model, cpu_bench.OUT / cpu_bench.MODELS[model][0], "fp16", work)
            if model == "resnet50":
                profile_engine(model, cpu_bench.OUT / cpu_bench.MODELS[model][0], "fp16", work, nhwc=True)
    if not args.no_compile:
        # What torch.compile's first call costs, from runs on 16 cores: a guess, used only to stop in time.
        compile_s = {"resnet50": 120, "bert-base": 120, "mlp": 40}
        for model in args.models:
            for precision in args.precisions:
                left = args.budget - (time.perf_counter() - started) if args.budget else float("inf")
                if left < compile_s.get(model, 120):
                    add({"model": model, "side": side_name(model, True), "precision": precision,
                         "error": f"skipped: {left:.0f} s left of --budget {args.budget:.0f}"})
                    continue
                data, names = inputs[model]
                add({"model": model, "side": side_name(model, True), "precision": precision,
                     **run_torch(model, data, names, precision, True)})
    print("\n".join(write_tables(out, gpu, torch.__version__, results)))
    failed = [r for r in results if r["side"].startswith("shardscore") and "error" in r]
    if failed:  # a PyTorch row may fail (torch.compile where it does not work); shardscore's may not
        sys.exit(f"gpu_vs_pytorch: {len(failed)} shardscore run(s) failed, first: {failed[0]['error']}")

if __name__ == "__main__":
    main()
