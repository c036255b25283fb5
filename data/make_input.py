#!/usr/bin/env python3
"""Generate a synthetic 2-D HDF5 input (rows x features) for shardscore.

With --features 30 (the demo model's), rows are breast_cancer rows sampled with replacement plus
Gaussian jitter of 5% of each feature's std; otherwise standard normal values. Written in blocks,
so any row count needs little memory.

  .venv/bin/python data/make_input.py --out build/demo/demo_input.h5 --rows 1000000
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import h5py
import numpy as np

DTYPES = ("float64", "float32", "float16", "int32", "int64", "int16", "uint8")
DEMO_FEATURES = 30
BLOCK_ROWS = 100_000


def _base_data(features: int):
    if features != DEMO_FEATURES:
        return None
    from sklearn.datasets import load_breast_cancer
    return load_breast_cancer().data.astype(np.float64)


def _convert(block: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype.kind == "f":
        return block.astype(dtype)
    info = np.iinfo(dtype)
    out = np.rint(block)
    np.clip(out, info.min, info.max, out=out)
    return out.astype(dtype)


def make_input(path, rows: int, dtype: str = "float64", chunk_rows: int = 16384,
               dataset: str = "/features", missing_fraction: float = 0.001, seed: int = 0,
               features: int = DEMO_FEATURES, block_rows: int = BLOCK_ROWS) -> Path:
    """Write `rows` x `features` values of `dtype` to dataset `dataset` in HDF5 file `path`.

    chunk_rows=0 makes a contiguous dataset. missing_fraction of the values become NaN
    (float dtypes only). Returns the path.
    """
    if rows < 0:
        raise ValueError("rows must be >= 0")
    if features < 1:
        raise ValueError("features must be >= 1")
    if chunk_rows < 0:
        raise ValueError("chunk_rows must be >= 0")
    if not 0.0 <= missing_fraction <= 1.0:
        raise ValueError("missing_fraction must be in [0, 1]")
    np_dtype = np.dtype(dtype)
    if np_dtype.name not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}")

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    base = _base_data(features)
    if base is not None:
        jitter = 0.05 * base.std(axis=0)

    kwargs = {}
    if chunk_rows > 0 and rows > 0:
        kwargs["chunks"] = (min(chunk_rows, rows), features)
    with h5py.File(path, "w") as f:
        ds = f.create_dataset(dataset, shape=(rows, features), dtype=np_dtype, **kwargs)
        for begin in range(0, rows, block_rows):
            n = min(block_rows, rows - begin)
            if base is not None:
                idx = rng.integers(0, base.shape[0], size=n)
                block = base[idx] + rng.standard_normal((n, features)) * jitter
            else:
                block = rng.standard_normal((n, features))
            block = _convert(block, np_dtype)
            if np_dtype.kind == "f" and missing_fraction > 0:
                block[rng.random(block.shape) < missing_fraction] = np.nan
            ds[begin:begin + n] = block
    return path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="output HDF5 file (parent dirs are created)")
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--dtype", choices=DTYPES, default="float64")
    p.add_argument("--chunk-rows", type=int, default=16384, help="rows per HDF5 chunk; 0 = contiguous")
    p.add_argument("--dataset", default="/features")
    p.add_argument("--missing-fraction", type=float, default=0.001,
                   help="share of values set to NaN (float dtypes only)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--features", type=int, default=DEMO_FEATURES,
                   help="30 = breast_cancer-like rows for the demo model; otherwise standard normal")
    a = p.parse_args(argv)
    try:
        out = make_input(a.out, a.rows, dtype=a.dtype, chunk_rows=a.chunk_rows, dataset=a.dataset,
                         missing_fraction=a.missing_fraction, seed=a.seed, features=a.features)
    except ValueError as e:
        p.error(str(e))
    print(f"wrote {out}: {a.dataset} {a.rows} x {a.features} {a.dtype}"
          f" ({'contiguous' if a.chunk_rows == 0 else f'chunks of {a.chunk_rows} rows'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
