"""Result store: computed results kept on disk, one JSON file per item, named by its configuration.

An item is one unit of work (a check, a sweep, a measurement) described by a section name, an item
name and a JSON-able configuration (every parameter that changes the result, including a version or
a fingerprint of the code that computes it). Its result lives at

    root/<section>/<name>-<key>.json        key = sha256 of the canonical JSON of (section, name, config), 16 hex

as the record {"section", "name", "key", "config", "seconds", "result"}, where result is a JSON
object. Items that also produce files (tables, arrays) write them into ``item_dir`` (the same path
without ".json"); the record is written last, so a record on disk means its files are complete.

Reading back: a record is used only if it parses, has the shape above, carries the expected key,
and its result passes the caller's ``check`` (a callable returning True for a usable result). Anything
else (a missing file, a half-written file, valid JSON of the wrong shape, a stale key) means
"not computed", and ``fetch`` computes the item again. Writes are atomic (write, then rename), so an
interrupted run leaves either the old record or the new one, never a truncated file, and a rerun
resumes where it stopped. The tidy CSV files that figures read are written here too (write_csv), by
the report's sections, synthetic's sweeps and figures alike.

This module is core: it imports only the standard library and :mod:`geomrelax.errors`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from .errors import GeomrelaxError

__all__ = ["Record", "ResultStore", "StoreError", "atomic_write_text", "config_key", "csv_cell", "jsonable",
           "write_csv"]

RECORD_FIELDS = ("section", "name", "key", "config", "seconds", "result")


class StoreError(GeomrelaxError):
    """A result that cannot be stored (not JSON-able, not a dict) or a malformed section / item name."""


def jsonable(x):
    """Plain-JSON version of x: tuples and arrays to lists, numpy scalars to numbers, non-finite floats
    to the strings 'nan', 'inf', '-inf' (strict JSON has no literal for them)."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if hasattr(x, "tolist") and not isinstance(x, (str, bytes)):  # numpy arrays and scalars, torch tensors
        return jsonable(x.tolist())
    if isinstance(x, bool) or x is None or isinstance(x, (int, str)):
        return x
    if isinstance(x, float):
        return x if math.isfinite(x) else repr(x)
    raise StoreError(f"cannot store a value of type {type(x).__name__}: {x!r}")


def config_key(config) -> str:
    """A short stable hash (16 hex digits) of a JSON-able configuration; key order does not matter."""
    blob = json.dumps(jsonable(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def atomic_write_text(path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, flushed to disk, and a rename: readers see the
    old or the new file, never a part, and a crash right after leaves no empty file behind the name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # one temporary name per process and thread: sweeps write from threads (tempfile.mkstemp would also be
    # unique, but its files are mode 0600 and the rename would keep that)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "w", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise


def csv_cell(v) -> str:
    """One value as CSV text: floats (numpy's too) by repr, 17 significant digits, so they read back
    bit-exact ('nan', 'inf', '-inf' included); None as empty; anything else by str (True, 3, 'text')."""
    if isinstance(v, float):
        return repr(float(v))  # float(): repr of a numpy float64 is 'np.float64(...)'
    return "" if v is None else str(v)


def write_csv(path, rows, columns=None) -> Path:
    """Rows (dicts) as a tidy CSV file, written atomically (atomic_write_text); the folder is made.

    ``columns``: the column order (default: every key of the rows, in first-seen order). A row without a
    column gets an empty cell; keys outside the columns are left out. Values as csv_cell writes them."""
    rows = list(rows)
    if columns is None:
        columns = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([csv_cell(r.get(c)) for c in columns])
    atomic_write_text(path, buf.getvalue())
    return Path(path)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_.") or "item"


@dataclass(frozen=True)
class Record:
    """One stored result. ``cached`` is True when it was read back rather than computed in this call."""

    section: str
    name: str
    key: str
    config: dict
    seconds: float
    result: dict
    path: Path
    cached: bool

    @property
    def item_dir(self) -> Path:
        """The folder of the item's files (tables, arrays), beside its JSON record."""
        return self.path.with_suffix("")


class ResultStore:
    """One JSON record per item under ``root``; see the module docstring for the layout."""

    def __init__(self, root):
        self.root = Path(root)

    # -- names -------------------------------------------------------------------------------------
    @staticmethod
    def key(section: str, name: str, config: dict) -> str:
        if not isinstance(config, dict):
            raise StoreError(f"an item's configuration must be a dict, got {type(config).__name__}")
        return config_key({"section": section, "name": name, **config})

    def path(self, section: str, name: str, config: dict) -> Path:
        if not section or _slug(section) != section:
            raise StoreError(f"section name {section!r} must be non-empty and use only letters, digits, '_', '.', '-'")
        return self.root / section / f"{_slug(name)}-{self.key(section, name, config)}.json"

    def item_dir(self, section: str, name: str, config: dict) -> Path:
        """Folder for the item's files; created empty (a previous, unfinished attempt is cleared)."""
        d = self.path(section, name, config).with_suffix("")
        if d.exists():
            for f in d.iterdir():
                if f.is_file():
                    f.unlink()
        d.mkdir(parents=True, exist_ok=True)
        return d

    # -- reading and writing -----------------------------------------------------------------------
    def load(self, section: str, name: str, config: dict, check: Optional[Callable[[dict], bool]] = None
             ) -> Optional[Record]:
        """The stored record of the item, or None if it is missing, unreadable, of the wrong shape, stale
        (another key) or rejected by ``check(result)`` (which may also raise KeyError/TypeError/ValueError)."""
        path = self.path(section, name, config)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError, UnicodeDecodeError):
            return None
        if not (isinstance(data, dict) and all(f in data for f in RECORD_FIELDS)):
            return None
        key = self.key(section, name, config)
        if data["key"] != key or not isinstance(data["result"], dict) or not isinstance(data["config"], dict):
            return None
        if not isinstance(data["seconds"], (int, float)) or isinstance(data["seconds"], bool):
            return None
        if check is not None:
            try:
                if not check(data["result"]):
                    return None
            except (KeyError, TypeError, ValueError, IndexError, AttributeError):
                return None
        return Record(section, name, key, data["config"], float(data["seconds"]), data["result"], path, True)

    def save(self, section: str, name: str, config: dict, result: dict, seconds: float = 0.0) -> Record:
        """Store ``result`` (a JSON-able dict) as the item's record, atomically."""
        if not isinstance(result, dict):
            raise StoreError(f"item {section}/{name}: a result must be a dict, got {type(result).__name__}")
        path = self.path(section, name, config)
        key = self.key(section, name, config)
        data = {"section": section, "name": name, "key": key, "config": jsonable(config),
                "seconds": float(seconds), "result": jsonable(result)}
        atomic_write_text(path, json.dumps(data, indent=1, allow_nan=False))
        return Record(section, name, key, data["config"], float(seconds), data["result"], path, False)

    def fetch(self, section: str, name: str, config: dict, compute: Callable[..., dict], *,
              check: Optional[Callable[[dict], bool]] = None, force: bool = False, with_dir: bool = False
              ) -> Record:
        """The stored record if usable (and not ``force``), else ``compute()`` stored and returned.

        ``with_dir``: ``compute`` takes the item's file folder (``item_dir``, emptied first) and writes
        its files there.
        """
        if not force:
            rec = self.load(section, name, config, check)
            if rec is not None:
                return rec
        t0 = time.perf_counter()
        result = compute(self.item_dir(section, name, config)) if with_dir else compute()
        return self.save(section, name, config, result, time.perf_counter() - t0)
