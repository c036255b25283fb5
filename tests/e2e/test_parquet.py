"""Parquet in and out (Apache Arrow C++): inputs written by pyarrow at test time, outputs read back with pyarrow,
predictions checked against ONNX Runtime on features the test decodes itself (numpy), ids and row order checked,
Parquet output identical at 1 and 3 ranks; Parquet -> HDF5 and HDF5 -> Parquet; bad Parquet inputs exit 2.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest


def _build_has_parquet() -> bool:
    repo = Path(__file__).resolve().parents[2]
    BIN = Path(os.environ.get("SHARDSCORE_BIN", str(repo / "build" / "shardscore"))).resolve()
    try:
        out = subprocess.run([str(BIN), "--version"], capture_output=True, text=True, timeout=60).stdout
    except OSError:
        return True  # no binary: conftest skips the suite
    return "parquet" in out


pytestmark = pytest.mark.skipif(not _build_has_parquet(),
                                reason="this build has no Parquet support (built without Apache Arrow C++)")

FEATURES = 30
VOCAB_DICT = ["lo", "mid", "hi"]       # feature 9: dictionary<int32, string>
VOCAB_STR = ["a", "b", "c", "d"]       # feature 19: plain string
UNKNOWN = 9                            # input.unknown_category
INT_COLS = {3: pa.int32(), 13: pa.uint16(), 23: pa.int64()}
FLOAT32_COLS = {10}
BOOL_COL = 29
# rows per file and rows per row group, per file (files are sorted by name: a, b, c)
FILES = [("a.parquet", 1100, 256), ("b.parquet", 700, 300), ("c.parquet", 900, 128)]
RUN = {"batch_size": 128, "shard_rows": 700}


def name(j: int) -> str:
    return f"f{j:02d}"


def _base(e2e, tmp_path, rows, seed) -> np.ndarray:
    h5 = e2e.make_input(tmp_path / "base.h5", rows, chunk_rows=0, missing_fraction=0.0, seed=seed)
    x = e2e.read_input(h5)
    h5.unlink()
    return x


def make_mixed(e2e, tmp_path, rng, seed):
    """Mixed-type Parquet folder: returns (folder, expected float64 feature matrix, ids, job input section)."""
    rows = sum(n for _, n, _ in FILES)
    x = _base(e2e, tmp_path, rows, seed)
    feats = np.empty_like(x)
    arrays = {}
    for j in range(FEATURES):
        v = x[:, j]
        null = rng.random(rows) < (0.03 if j in (0, 3, 5, 9, BOOL_COL) else 0.0)
        if j in INT_COLS:
            iv = np.rint(v).astype(np.int64)
            if pa.types.is_unsigned_integer(INT_COLS[j]):
                iv = np.maximum(iv, 0)  # jittered values may dip below 0
            arrays[name(j)] = pa.array(iv, type=INT_COLS[j], mask=null)
            feats[:, j] = np.where(null, np.nan, iv)
        elif j in FLOAT32_COLS:
            fv = v.astype(np.float32)
            arrays[name(j)] = pa.array(fv, type=pa.float32(), mask=null)
            feats[:, j] = np.where(null, np.nan, fv.astype(np.float64))
        elif j == BOOL_COL:
            bv = v > np.median(v)
            arrays[name(j)] = pa.array(bv, type=pa.bool_(), mask=null)
            feats[:, j] = np.where(null, np.nan, bv.astype(np.float64))
        elif j == 9:
            codes = np.digitize(v, np.quantile(v, [1 / 3, 2 / 3]))  # 0, 1, 2
            unknown = rng.random(rows) < 0.02
            dictionary = pa.array(VOCAB_DICT + ["weird"])
            idx = np.where(unknown, 3, codes).astype(np.int32)
            arrays[name(j)] = pa.DictionaryArray.from_arrays(pa.array(idx, mask=null), dictionary)
            feats[:, j] = np.where(null, np.nan, np.where(unknown, UNKNOWN, codes))
        elif j == 19:
            codes = np.digitize(v, np.quantile(v, [0.25, 0.5, 0.75]))  # 0..3
            unknown = rng.random(rows) < 0.02
            strings = np.where(unknown, "?", np.array(VOCAB_STR)[codes])
            arrays[name(j)] = pa.array(strings.tolist(), type=pa.string())
            feats[:, j] = np.where(unknown, UNKNOWN, codes)
        else:
            arrays[name(j)] = pa.array(v, type=pa.float64(), mask=null)
            feats[:, j] = np.where(null, np.nan, v)
    ids = np.array([f"c{int(i):07d}" for i in rng.permutation(10**6)[:rows]])
    order = list(rng.permutation(FEATURES))
    cols = {name(j): arrays[name(j)] for j in order[:10]}
    cols["customer_id"] = pa.array(ids.tolist())
    cols.update({name(j): arrays[name(j)] for j in order[10:]})
    cols["churned"] = pa.array(rng.integers(0, 2, rows).astype(np.int8))
    table = pa.table(cols)
    folder = tmp_path / "in" / "mixed"
    folder.mkdir(parents=True)
    begin = 0
    for fname, n, rg in FILES:
        pq.write_table(table.slice(begin, n), folder / fname, row_group_size=rg)
        begin += n
    (folder / "_SUCCESS").write_bytes(b"")
    (folder / "_garbage.parquet").write_bytes(os.urandom(100))  # names starting with '_' are not data
    section = {"columns": [name(j) for j in range(FEATURES)], "id_column": "customer_id", "label_column": "churned",
               "categories": {name(9): VOCAB_DICT, name(19): VOCAB_STR}, "unknown_category": UNKNOWN}
    return folder, feats, ids, section


def parquet_job(e2e, tmp_path, inp, out, input_extra=None, **sections):
    job = e2e.demo_job(inp, out, run=RUN, **sections)
    job["input"].pop("dataset", None)
    job["input"].update(input_extra or {})
    job["checks"]["max_missing_fraction"] = 0.25  # the inputs have 3% nulls on purpose: a shard may pass 5%
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    return e2e.write_job(tmp_path / f"job_{Path(out).name}.toml", job), job


def read_folder(folder: Path) -> tuple[pa.Table, dict]:
    """The output folder read through its manifest (files in manifest order); checks checksums and rows."""
    names = sorted(p.name for p in folder.iterdir())
    manifest = json.loads((folder / "_manifest.json").read_text())
    assert (folder / "_SUCCESS").is_file()
    parts = [f["path"] for f in manifest["files"]]
    assert names == sorted(parts + ["_SUCCESS", "_manifest.json"]), f"unexpected files: {names}"
    tables, row = [], 0
    for f in manifest["files"]:
        p = folder / f["path"]
        assert hashlib.sha256(p.read_bytes()).hexdigest() == f["sha256"], f"checksum of {p.name}"
        t = pq.read_table(p)
        assert t.num_rows == f["rows"] and f["row_begin"] == row, f"{p.name}: rows {t.num_rows}, manifest {f}"
        row += f["rows"]
        tables.append(t)
    assert row == manifest["rows"]
    return pa.concat_tables(tables), manifest


def outputs_of(table: pa.Table) -> dict:
    proba = table.column("probabilities").combine_chunks()
    assert pa.types.is_fixed_size_list(proba.type) and proba.type.list_size == 2
    return {"probabilities": proba.flatten().to_numpy().reshape(-1, 2),
            "label": table.column("label").to_numpy()}


def input_row_groups(folder: Path) -> list[tuple[str, int, int]]:
    """(file, first global row, rows) of every input row group, in row order."""
    out, row = [], 0
    for fname, _, _ in FILES:
        md = pq.ParquetFile(folder / fname).metadata
        for g in range(md.num_row_groups):
            n = md.row_group(g).num_rows
            out.append((fname, row, n))
            row += n
    return out


@pytest.mark.parametrize("np_", [1, 3])
def test_mixed_parquet_scored_against_onnxruntime(e2e, tmp_path, rng, seed, np_):
    folder, feats, ids, section = make_mixed(e2e, tmp_path, rng, seed)
    out = tmp_path / "out" / "scores.parquet"
    job_path, job = parquet_job(e2e, tmp_path, folder, out, section)
    p = e2e.run_job(np_, ["run", "--job", job_path], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    table, manifest = read_folder(out)
    assert table.column_names == ["customer_id", "label", "probabilities"]
    assert table.column("customer_id").to_pylist() == ids.tolist(), "ids or row order not preserved"
    e2e.assert_matches_demo_oracle(outputs_of(table), feats, job, both_labels=False)

    # Shards are whole row groups of one file; each part file is one shard.
    groups = input_row_groups(folder)
    starts = {b: (f, n) for f, b, n in groups}
    for entry in manifest["files"]:
        b, end = entry["row_begin"], entry["row_begin"] + entry["rows"]
        assert b in starts, f"shard {entry} does not start on a row group"
        covered = [(f, gb, n) for f, gb, n in groups if b <= gb < end]
        assert sum(n for _, _, n in covered) == entry["rows"] and len({f for f, _, _ in covered}) == 1, entry

    # Provenance in the schema metadata and the manifest; report beside the folder.
    meta = pq.read_schema(out / manifest["files"][0]["path"]).metadata
    assert meta[b"model_sha256"].decode() == e2e.sha256_file(e2e.DEMO_MODEL)
    assert meta[b"num_rows"].decode() == str(len(ids)) and meta[b"num_ranks"].decode() == str(np_)
    assert manifest["provenance"]["model_sha256"] == e2e.sha256_file(e2e.DEMO_MODEL)
    assert meta[b"working_directory"].decode() == manifest["provenance"]["working_directory"] == str(tmp_path)
    # The checks' outcome, known only at the end: in the manifest (exit 3 still writes _SUCCESS: complete).
    report_ = json.loads(Path(str(out) + ".report.json").read_text())
    want = "passed" if p.returncode == 0 else "checks_failed"
    assert manifest["provenance"]["quality_status"].startswith(want) and report_["status"] == want, manifest["provenance"]
    report = json.loads(Path(str(out) + ".report.json").read_text())
    assert report["output"]["format"] == "parquet" and report["rows_scored"] == len(ids)
    assert len(report["shards"]) == len(manifest["files"])
    # Missing values seen before imputation are counted per feature (nulls are missing values).
    for j in (0, 3, 9, BOOL_COL):
        seen = sum(s["features"][j]["nan"] for s in report["shards"])
        assert seen == int(np.isnan(feats[:, j]).sum()) > 0, f"feature {j}: {seen} missing values counted"


def test_parquet_output_identical_for_1_and_3_ranks(e2e, tmp_path, rng, seed):
    folder, feats, ids, section = make_mixed(e2e, tmp_path, rng, seed)
    tables = []
    for np_ in (1, 3):
        out = tmp_path / f"out{np_}" / "scores.parquet"
        job_path, _ = parquet_job(e2e, tmp_path, folder, out, section)
        p = e2e.run_job(np_, ["run", "--job", job_path], cwd=tmp_path)
        assert p.returncode == 0, p.stderr
        tables.append(read_folder(out))
    (t1, m1), (t3, m3) = tables
    assert t1.equals(t3), "outputs differ between 1 and 3 ranks"
    assert [(f["path"], f["rows"]) for f in m1["files"]] == [(f["path"], f["rows"]) for f in m3["files"]]


def _numeric_folder(e2e, tmp_path, rng, seed, rows=1500):
    x = _base(e2e, tmp_path, rows, seed)
    x[rng.random(x.shape) < 0.01] = np.nan
    cols = {"row_id": pa.array(np.arange(rows, dtype=np.int64) * 7 + 3)}
    cols.update({name(j): pa.array(x[:, j], from_pandas=True) for j in range(FEATURES)})
    cols["target"] = pa.array(rng.integers(0, 2, rows))
    folder = tmp_path / "in" / "numeric"
    folder.mkdir(parents=True)
    pq.write_table(pa.table(cols).slice(0, 800), folder / "part-0.parquet", row_group_size=200)
    pq.write_table(pa.table(cols).slice(800), folder / "part-1.parquet", row_group_size=350)
    return folder, x


def test_parquet_to_hdf5_default_columns(e2e, tmp_path, rng, seed):
    folder, x = _numeric_folder(e2e, tmp_path, rng, seed)
    out = tmp_path / "out" / "scores.h5"
    job_path, job = parquet_job(e2e, tmp_path, folder, out, {"id_column": "row_id", "label_column": "target"})
    p = e2e.run_job(3, ["run", "--job", job_path], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    datasets, attrs = e2e.read_output(out)
    e2e.assert_row_index(datasets, x.shape[0])
    e2e.assert_matches_demo_oracle(datasets, x, job)
    assert attrs["input_path"] == str(folder)


def test_hdf5_to_parquet(e2e, tmp_path, rng, seed):
    rows = 2345
    inp = e2e.make_input(tmp_path / "in" / "features.h5", rows, chunk_rows=100, seed=seed)
    out = tmp_path / "out" / "scores.parquet"
    job = e2e.make_job(tmp_path / "job.toml", inp, out, run=RUN)
    p = e2e.run_job(2, ["run", "--job", job], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    table, manifest = read_folder(out)
    assert table.column_names == ["row_index", "label", "probabilities"]
    assert table.column("row_index").to_numpy().tolist() == list(range(rows))
    e2e.assert_matches_demo_oracle(outputs_of(table), e2e.read_input(inp))
    assert all(f["rows"] == 700 for f in manifest["files"][:-1])  # whole chunks of 100


@pytest.mark.parametrize("in_name, out_name", [("IN.PARQUET", "SCORES.Parquet"), ("in.pq", "scores.PQ")])
def test_parquet_extensions_in_any_case(e2e, tmp_path, rng, seed, in_name, out_name):
    """One file named IN.PARQUET is read as Parquet and SCORES.Parquet written as a Parquet folder, as the files of
    an input folder match in any case: they were read as HDF5 ('not an HDF5 file') and written as an HDF5 file.
    An output ending in .pq is a Parquet folder as an input of that name is Parquet (it was written as HDF5, and
    the next job could not read it as its input)."""
    x = _base(e2e, tmp_path, 600, seed)
    inp = tmp_path / "in" / in_name
    inp.parent.mkdir(parents=True)
    pq.write_table(pa.table({name(j): pa.array(x[:, j]) for j in range(FEATURES)}), inp, row_group_size=100)
    out = tmp_path / "out" / out_name
    job_path, job = parquet_job(e2e, tmp_path, inp, out)
    p = e2e.run_job(2, ["run", "--job", job_path], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    table, _ = read_folder(out)
    assert table.column("row_index").to_numpy().tolist() == list(range(600))
    e2e.assert_matches_demo_oracle(outputs_of(table), x, job)


def test_the_demo_job_takes_a_parquet_input_from_the_command_line(e2e, tmp_path, seed):
    """jobs/demo.toml as shipped, switched to a Parquet input and output by --input and --output alone (it set
    input.dataset, a key Parquet input refuses, which no option could unset)."""
    x = _base(e2e, tmp_path, 300, seed)
    inp = tmp_path / "in.parquet"
    pq.write_table(pa.table({name(j): pa.array(x[:, j]) for j in range(FEATURES)}), inp, row_group_size=100)
    out = tmp_path / "out" / "scores.parquet"
    out.parent.mkdir()
    p = e2e.run_job(None, ["run", "--job", e2e.DEMO_JOB, "-i", inp, "-o", out, "--set", f"output.report={tmp_path / 'r.json'}"],
                    cwd=e2e.DEMO_JOB.parent.parent)
    assert p.returncode == 0, p.stderr
    table, _ = read_folder(out)
    assert table.column("row_index").to_numpy().tolist() == list(range(300))
    e2e.assert_matches_demo_oracle(outputs_of(table), x, e2e.load_demo_job())


def test_all_null_column_of_a_later_file_is_missing_values(e2e, tmp_path, rng, seed):
    """pandas writes a column with no value at all as Arrow's null type: as a feature its values are missing (NaN),
    counted by the checks (exit 3 here, the share is 1), where the job refused the file ('type null')."""
    x = _base(e2e, tmp_path, 400, seed)
    folder = tmp_path / "in"
    folder.mkdir()
    cols = {name(j): pa.array(x[:, j]) for j in range(FEATURES)}
    pq.write_table(pa.table(cols).slice(0, 300), folder / "a.parquet", row_group_size=100)
    later = {k: v[300:] for k, v in cols.items()}
    later[name(0)] = pa.nulls(100)
    pq.write_table(pa.table(later), folder / "b.parquet")
    x[300:, 0] = np.nan
    out = tmp_path / "out" / "scores.h5"
    job_path, job = parquet_job(e2e, tmp_path, folder, out)
    p = e2e.run_job(2, ["run", "--job", job_path], cwd=tmp_path)
    assert p.returncode == 3, p.stderr
    datasets, _ = e2e.read_output(out)
    e2e.assert_matches_demo_oracle(datasets, x, job)
    rep = e2e.read_report(out)
    last = [s for s in rep["shards"] if s["row_begin"] == 300]
    assert len(last) == 1 and last[0]["features"][0]["nan"] == 100 and last[0]["verdict"] == "fail", last


def test_flat_column_named_like_a_struct_field(e2e, tmp_path, rng, seed):
    """A flat column literally named 'a.b' beside a struct 'a' with field 'b': the flat one is read (Parquet's
    dotted column path matched both, and the job failed mid-run with 'column missing from the rows read')."""
    x = _base(e2e, tmp_path, 300, seed)
    cols = {name(j): pa.array(x[:, j]) for j in range(FEATURES)}
    cols["a.b"] = cols.pop(name(0))
    cols["a"] = pa.array([{"b": 1000.0 + i} for i in range(300)])
    inp = tmp_path / "in" / "data.parquet"
    inp.parent.mkdir(parents=True)
    pq.write_table(pa.table(cols), inp, row_group_size=100)
    out = tmp_path / "out" / "scores.h5"
    job_path, job = parquet_job(e2e, tmp_path, inp, out, {"columns": ["a.b"] + [name(j) for j in range(1, FEATURES)]})
    p = e2e.run_job(2, ["run", "--job", job_path], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    datasets, _ = e2e.read_output(out)
    e2e.assert_matches_demo_oracle(datasets, x, job)


# ---- bad Parquet input: exit 2, one error line naming the culprit, nothing written --------------------------

def _one_file(e2e, tmp_path, rng, seed, **extra_cols):
    x = _base(e2e, tmp_path, 600, seed)
    cols = {name(j): pa.array(x[:, j]) for j in range(FEATURES)}
    cols.update(extra_cols)
    path = tmp_path / "in" / "data.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(cols), path, row_group_size=100)
    return path


def case_truncated(e2e, tmp_path, rng, seed):
    path = _one_file(e2e, tmp_path, rng, seed)
    os.truncate(path, path.stat().st_size // 2)
    return path, {}, [str(path)]


def case_corrupt_footer(e2e, tmp_path, rng, seed):
    path = _one_file(e2e, tmp_path, rng, seed)
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.seek(size - 200)
        f.write(rng.integers(0, 256, 192, dtype=np.uint8).tobytes())
    return path, {}, [str(path)]


def case_not_parquet(e2e, tmp_path, rng, seed):
    path = tmp_path / "in" / "data.parquet"
    path.parent.mkdir(parents=True)
    path.write_bytes(rng.integers(0, 256, 5000, dtype=np.uint8).tobytes())
    return path, {}, [str(path)]


def case_missing_column(e2e, tmp_path, rng, seed):
    path = _one_file(e2e, tmp_path, rng, seed)
    cols = [name(j) for j in range(FEATURES - 1)] + ["no_such_col"]
    return path, {"columns": cols}, [str(path), "no_such_col"]


def case_wrong_type(e2e, tmp_path, rng, seed):
    stamps = pa.array(np.arange(600).astype("datetime64[s]"))
    path = _one_file(e2e, tmp_path, rng, seed, when=stamps)
    cols = [name(j) for j in range(FEATURES - 1)] + ["when"]
    return path, {"columns": cols}, [str(path), "when"]


def case_string_without_vocabulary(e2e, tmp_path, rng, seed):
    path = _one_file(e2e, tmp_path, rng, seed, colour=pa.array(["red"] * 600))
    cols = [name(j) for j in range(FEATURES - 1)] + ["colour"]
    return path, {"columns": cols}, [str(path), "colour"]


def case_missing_id_column(e2e, tmp_path, rng, seed):
    path = _one_file(e2e, tmp_path, rng, seed)
    return path, {"id_column": "customer"}, [str(path), "customer"]


def case_id_column_named_like_an_output(e2e, tmp_path, rng, seed):
    # The output would hold two 'label' columns, which no Parquet reader can unify (it was written, exit 0).
    path = _one_file(e2e, tmp_path, rng, seed, label=pa.array(np.arange(600)))
    return path, {"id_column": "label"}, ["'label'", "id column"]


def case_folder_with_a_dangling_link(e2e, tmp_path, rng, seed):
    # Half the rows behind a link whose file is gone (purged scratch): they were skipped, exit 0.
    path = _one_file(e2e, tmp_path, rng, seed)
    (path.parent / "more.parquet").symlink_to(tmp_path / "purged.parquet")
    return path.parent, {}, ["more.parquet", "does not exist"]


def case_empty_folder(e2e, tmp_path, rng, seed):
    folder = tmp_path / "in" / "empty"
    folder.mkdir(parents=True)
    return folder, {}, [str(folder)]


def case_feature_only_in_a_later_file(e2e, tmp_path, rng, seed):
    # The default features are the first file's number columns: a later file's own was dropped, exit 0.
    path = _one_file(e2e, tmp_path, rng, seed)
    x = pq.read_table(path)
    pq.write_table(x.append_column("extra", pa.array(np.ones(x.num_rows))), path.parent / "data2.parquet")
    return path.parent, {}, ["data2.parquet", "'extra'", "input.columns"]


CASES = {
    "feature_only_in_a_later_file": case_feature_only_in_a_later_file,
    "truncated": case_truncated,
    "corrupt_footer": case_corrupt_footer,
    "not_parquet": case_not_parquet,
    "missing_column": case_missing_column,
    "wrong_type": case_wrong_type,
    "string_without_vocabulary": case_string_without_vocabulary,
    "missing_id_column": case_missing_id_column,
    "empty_folder": case_empty_folder,
    "id_column_named_like_an_output": case_id_column_named_like_an_output,
    "folder_with_a_dangling_link": case_folder_with_a_dangling_link,
}


@pytest.mark.parametrize("out_name", ["scores.parquet"])
@pytest.mark.parametrize("case", list(CASES))
def test_bad_parquet_exits_2(e2e, tmp_path, rng, seed, case, out_name):
    inp, input_extra, needles = CASES[case](e2e, tmp_path, rng, seed)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    job_path, _ = parquet_job(e2e, tmp_path, inp, out_dir / out_name, input_extra)
    p = e2e.run_job(3, ["run", "--job", job_path], cwd=tmp_path)
    assert p.returncode == 2, f"exit {p.returncode}, want 2\n{p.stderr}"
    e2e.assert_single_error(p, *needles)
    assert e2e.listing(out_dir) == [], f"files left in the output folder: {e2e.listing(out_dir)}"


def test_the_log_states_the_shard_plan_of_row_groups(e2e, tmp_path, rng, seed):
    """Row groups of 300 rows and of 100 under run.shard_rows = 100: shards of 300 and of 100 rows, which the log
    gave as '12 shards of 100 rows' (the setting)."""
    x = _base(e2e, tmp_path, 1800, seed)
    folder = tmp_path / "in"
    folder.mkdir()
    for k, (part, group) in enumerate(((x[:900], 300), (x[900:], 100))):
        pq.write_table(pa.table({name(j): pa.array(part[:, j]) for j in range(FEATURES)}), folder / f"part-{k}.parquet",
                       row_group_size=group)
    job_path, _ = parquet_job(e2e, tmp_path, folder, tmp_path / "out" / "scores.h5")
    p = e2e.run_job(None, ["run", "--job", job_path, "--dry-run", "--set", "run.shard_rows=100"], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert re.search(r"1 rank\(s\) x \d+ thread\(s\); 12 shards of 100 to 300 rows; batch 128 rows$", p.stderr, re.M), \
        p.stderr


PARQUET_KEYS = "input.columns, input.id_column, input.label_column, input.categories, input.unknown_category"


@pytest.mark.parametrize("fmt, overrides, named", [
    ("h5", ["input.unknown_category=-1"], "job key 'input.unknown_category' is"),
    ("h5", ['input.columns=["f00"]', "input.id_column=id"], "job keys 'input.columns' and 'input.id_column' are"),
    ("parquet", ["input.dataset=/x"], "job key 'input.dataset' is"),
    ("parquet", ["input.datasets={ X = \"/x\" }"], "job key 'input.datasets' is")])
def test_a_key_for_the_other_input_format_is_refused(e2e, tmp_path, rng, seed, fmt, overrides, named):
    """An HDF5 input took input.unknown_category without a word while the other Parquet keys were refused (by a
    list without unknown_category), and a Parquet input ignored input.dataset. Now each format refuses the other's
    keys alike: exit 2, naming the keys set, the input's format and every key of the other format."""
    out_dir = tmp_path / "out"
    if fmt == "h5":
        inp = e2e.make_input(tmp_path / "in.h5", 300, chunk_rows=100, seed=seed)
        job_path = e2e.make_job(tmp_path / "job.toml", inp, out_dir / "scores.h5")
        needles = ["for Parquet input", f"'{inp}' is read as HDF5", f"only: {PARQUET_KEYS})"]
    else:
        inp = _one_file(e2e, tmp_path, rng, seed)
        job_path, _ = parquet_job(e2e, tmp_path, inp, out_dir / "scores.h5")
        needles = ["for HDF5 input", f"'{inp}' is read as Parquet", "only: input.dataset, input.datasets)"]
    p = e2e.run_job(2, ["run", "--job", job_path, *[a for o in overrides for a in ("--set", o)]], cwd=tmp_path)
    assert p.returncode == 2, f"exit {p.returncode}, want 2\n{p.stderr}"
    e2e.assert_single_error(p, named, *needles)
    assert e2e.listing(out_dir) == [], f"files left in the output folder: {e2e.listing(out_dir)}"


def test_corrupt_row_group_mid_run_leaves_nothing(e2e, tmp_path, rng, seed):
    """Footers intact, one column chunk of the last file overwritten: ranks that own earlier shards have
    already written their part files when the failure comes; the run fails and the output folder is gone."""
    folder, _, _, section = make_mixed(e2e, tmp_path, rng, seed)
    victim = folder / FILES[-1][0]
    md = pq.ParquetFile(victim).metadata
    chunk = md.row_group(md.num_row_groups - 2).column(0)
    start = chunk.dictionary_page_offset or chunk.data_page_offset
    with open(victim, "r+b") as f:
        f.seek(start)
        f.write(rng.integers(0, 256, chunk.total_compressed_size, dtype=np.uint8).tobytes())
    out_dir = tmp_path / "out"
    job_path, _ = parquet_job(e2e, tmp_path, folder, out_dir / "scores.parquet", section)
    p = e2e.run_job(3, ["run", "--job", job_path], cwd=tmp_path)
    assert p.returncode == 2, f"exit {p.returncode}, want 2\n{p.stderr}"
    e2e.assert_single_error(p, str(victim))
    assert e2e.listing(out_dir) == [], f"files left in the output folder: {e2e.listing(out_dir)}"


def test_existing_parquet_output_without_overwrite(e2e, tmp_path, rng, seed):
    path = _one_file(e2e, tmp_path, rng, seed)
    out = tmp_path / "out" / "scores.parquet"
    out.mkdir(parents=True)
    (out / "keep.txt").write_text("mine")
    job_path, _ = parquet_job(e2e, tmp_path, path, out)
    p = e2e.run_job(2, ["run", "--job", job_path, "--set", "output.overwrite=false"], cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    e2e.assert_single_error(p, str(out))
    # overwrite = true still refuses a folder that is not a finished output
    p = e2e.run_job(2, ["run", "--job", job_path, "--set", "output.overwrite=true"], cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    e2e.assert_single_error(p, str(out))
    assert e2e.listing(out) == ["keep.txt"] and e2e.listing(out.parent) == ["scores.parquet"]


def test_empty_parquet_input_keeps_its_id_type(e2e, tmp_path):
    """A Parquet input of no rows with a string id column: the output's one file of no rows has the id column as
    a string, as a run with rows writes it, so that outputs of several runs can be read together (it was int64)."""
    cols = {name(j): pa.array([], pa.float64()) for j in range(FEATURES)}
    cols["customer_id"] = pa.array([], pa.string())
    inp = tmp_path / "in" / "empty.parquet"
    inp.parent.mkdir(parents=True)
    pq.write_table(pa.table(cols), inp)
    out = tmp_path / "out" / "scores.parquet"
    job_path, _ = parquet_job(e2e, tmp_path, inp, out, {"id_column": "customer_id"})
    p = e2e.run_job(2, ["run", "--job", job_path], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    table, manifest = read_folder(out)
    assert table.num_rows == 0 and manifest["rows"] == 0
    assert (table.schema.field(0).name, str(table.schema.field(0).type)) == ("customer_id", "string"), table.schema


@pytest.mark.parametrize("np_", [1, 2])
def test_part_file_that_cannot_be_created_leaves_nothing(e2e, tmp_path, rng, seed, np_):
    """Each rank under a lower open file limit (prlimit --nofile, mpirun left alone), from one at which the job
    cannot start to the first at which it succeeds: exit 0 with a complete folder, or a non-zero exit with nothing
    beside the input. Where the limit stops a part file's creation (EMFILE), the job fails with one error naming
    that file and the errno; the empty temporary folder stayed (its removal needed a file descriptor too). The
    input is Parquet: an HDF5 input's collective open checks for spare descriptors (test_errors), which leaves the
    part files enough."""
    if shutil.which("prlimit") is None:
        pytest.skip("prlimit (util-linux) is not installed")
    inp, _ = _numeric_folder(e2e, tmp_path, rng, seed, rows=20_000)
    out = tmp_path / "out" / "scores.parquet"
    job, _ = parquet_job(e2e, tmp_path, inp, out, {"id_column": "row_id", "label_column": "target"})
    _, failures = e2e.raise_limit_until_success(
        range(8, 65), lambda limit: e2e.run_job(np_, ["run", "--job", job], cwd=tmp_path, timeout=120,
                                                prefix=["prlimit", f"--nofile={limit}"]),
        out.parent, errno_text="Too many open files")
    assert e2e.listing(out.parent) == ["scores.parquet", "scores.parquet.report.json"]
    table, manifest = read_folder(out)
    assert table.num_rows == manifest["rows"] == 20_000
    part_failures = [limit for limit, p in failures if "cannot create output file" in p.stderr]
    for limit, p in failures:
        if limit in part_failures:
            assert p.returncode == 1, (limit, p.returncode)
            line = e2e.assert_single_error(p, "Too many open files", "ulimit -n", strict=False)
            assert re.search(r"'[^']*/\.scores\.parquet\.partial-[^/']*/\.part-\d{5}\.parquet\.tmp'", line), line
    if not part_failures:
        pytest.skip("no limit stopped a part file's creation alone here (the job needed its last descriptors "
                    "elsewhere first)")
