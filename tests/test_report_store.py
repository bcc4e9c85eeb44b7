"""The result store (geomrelax.store): one JSON record per item, keyed by its configuration."""

import json

import numpy as np
import pytest

import geomrelax.store as store_mod
from geomrelax.store import ResultStore, StoreError, config_key, jsonable


def counting(result):
    calls = []

    def compute():
        calls.append(1)
        return dict(result)
    return compute, calls


def test_key_is_stable_and_order_free():
    assert config_key({"a": 1, "b": [1, 2]}) == config_key({"b": (1, 2), "a": 1})
    assert config_key({"a": 1}) != config_key({"a": 2})
    assert len(config_key({})) == 16


def test_fetch_computes_once_then_reads_back(tmp_path):
    st = ResultStore(tmp_path)
    compute, calls = counting({"passed": True, "x": np.float64(1.5), "v": np.arange(3)})
    rec = st.fetch("sec", "item one", {"n": 3}, compute)
    assert not rec.cached and calls == [1]
    assert rec.path.parent == tmp_path / "sec" and rec.path.name.startswith("item_one-")
    again = st.fetch("sec", "item one", {"n": 3}, compute)
    assert again.cached and calls == [1]
    assert again.result == {"passed": True, "x": 1.5, "v": [0, 1, 2]}
    # another configuration is another item
    st.fetch("sec", "item one", {"n": 4}, compute)
    assert calls == [1, 1]
    assert st.fetch("sec", "item one", {"n": 3}, compute, force=True).cached is False and len(calls) == 3


@pytest.mark.parametrize("content", [
    "[1, 2, 3]",                                    # valid JSON, not an object
    '{"key": "x"}',                                 # an object without the record's fields
    '{"section": "sec", "name": "it", "key": "KEY", "config": {}, "seconds": 0, "result": 5}',  # result not a dict
    '{"section": "sec", "name": "it", "key": "KEY", "config": {}, "seconds": "slow", "result": {}}',
    '{"section": "sec", "name": "it", "key": "0000000000000000", "config": {}, "seconds": 0, "result": {}}',  # stale key
    '"just a string"', "null", '{"key": "', "",     # half-written or empty
])
def test_wrong_shape_or_stale_record_is_recomputed(tmp_path, content):
    st = ResultStore(tmp_path)
    path = st.path("sec", "it", {"n": 1})
    path.parent.mkdir(parents=True)
    path.write_text(content.replace("KEY", st.key("sec", "it", {"n": 1})))
    compute, calls = counting({"passed": True})
    rec = st.fetch("sec", "it", {"n": 1}, compute)
    assert calls == [1] and not rec.cached
    assert json.loads(path.read_text())["result"] == {"passed": True}


def test_check_rejects_an_unusable_result(tmp_path):
    st = ResultStore(tmp_path)
    st.save("sec", "it", {}, {"rows": [1, 2]})
    assert st.load("sec", "it", {}, check=lambda r: len(r["rows"]) == 2) is not None
    assert st.load("sec", "it", {}, check=lambda r: len(r["rows"]) == 3) is None
    assert st.load("sec", "it", {}, check=lambda r: r["missing"]) is None  # KeyError: not usable, no crash


def test_item_dir_and_with_dir(tmp_path):
    st = ResultStore(tmp_path)

    def compute(folder):
        (folder / "data.csv").write_text("a\n1\n")
        return {"files": ["data.csv"]}

    rec = st.fetch("sec", "it", {}, compute, with_dir=True)
    assert (rec.item_dir / "data.csv").read_text() == "a\n1\n"
    assert rec.item_dir == rec.path.with_suffix("")


def test_interrupted_write_leaves_the_old_record(tmp_path, monkeypatch):
    st = ResultStore(tmp_path)
    st.save("sec", "it", {}, {"v": 1})

    def boom(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(store_mod.os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        st.save("sec", "it", {}, {"v": 2})
    monkeypatch.undo()
    assert st.load("sec", "it", {}).result == {"v": 1}


def test_bad_input_is_refused(tmp_path):
    st = ResultStore(tmp_path)
    with pytest.raises(StoreError, match="must be a dict"):
        st.save("sec", "it", {}, [1, 2])
    with pytest.raises(StoreError, match="section name"):
        st.path("../up", "it", {})
    with pytest.raises(StoreError, match="cannot store"):
        jsonable({"f": object()})
    assert jsonable({"x": float("inf"), "y": float("nan")}) == {"x": "inf", "y": "nan"}
