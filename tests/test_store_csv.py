"""geomrelax.store.write_csv: the one CSV writer (report sections, synthetic sweeps, figures). The three
copies it replaced differed at the corners; these tests pin each corner to the shared answer."""

import math
import os

import numpy as np

import figures.style
import synthetic.store
from geomrelax.store import csv_cell, write_csv


def test_every_caller_uses_the_one_writer():
    assert figures.style.write_rows is write_csv and synthetic.store.write_csv is write_csv


def test_floats_read_back_bit_exact(tmp_path):
    rng = np.random.default_rng(0)
    vals = [float(v) for v in rng.standard_normal(20) * 10.0 ** rng.integers(-300, 300, 20)]
    vals += [math.inf, -math.inf, 5e-324, 0.1 + 0.2]
    path = write_csv(tmp_path / "x.csv", [{"v": v, "i": i} for i, v in enumerate(vals)], ["i", "v"])
    back = synthetic.store.read_csv(str(path))
    assert [r["v"] for r in back] == vals and [r["i"] for r in back] == list(range(len(vals)))
    assert [r["v"] for r in figures.style.read_rows(path, numeric=["v"])] == vals
    assert math.isnan(synthetic.store.read_csv(str(write_csv(tmp_path / "n.csv", [{"v": math.nan}])))[0]["v"])


def test_numpy_floats_are_written_as_numbers(tmp_path):
    # repr of a numpy 2 float64 is 'np.float64(0.1)': the sweep's writer put that text in the file
    assert csv_cell(np.float64(0.1)) == "0.1" and csv_cell(np.float32(0.5)) == "0.5"
    assert csv_cell(None) == "" and csv_cell(True) == "True" and csv_cell(np.int64(3)) == "3"
    path = write_csv(tmp_path / "x.csv", [{"a": np.float64(0.1)}])
    assert path.read_text() == "a\n0.1\n"


def test_missing_cells_are_empty_and_extra_keys_left_out(tmp_path):
    # the figures' writer raised KeyError on a row without a column; the sweep and the report wrote ""
    path = write_csv(tmp_path / "sub" / "x.csv", [{"a": 1, "b": "x,y"}, {"a": 2, "zz": 9}], ["a", "b"])
    assert path.read_text() == 'a,b\n1,"x,y"\n2,\n'
    # default columns: every key in first-seen order
    assert write_csv(tmp_path / "y.csv", [{"a": 1}, {"b": 2, "a": 3}]).read_text() == "a,b\n1,\n3,2\n"


def test_written_atomically_and_nothing_left_behind(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("old\n")
    write_csv(path, [{"a": 1}])
    assert path.read_text() == "a\n1\n" and os.listdir(tmp_path) == ["x.csv"]
    # the result keeps the umask's mode (a 0600 temporary file renamed into place would not)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
