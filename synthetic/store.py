"""The results directory of a sweep: resumable, never duplicated, never half-written, one writer at a time.

Layout of DIR:

    DIR/cells/<cell id>.csv   the rows of one finished cell, written to a temporary file and renamed
                              into place (os.replace is atomic): a cell file is complete or absent
    DIR/runs.csv              all cell files merged (rebuilt, then renamed into place, after each cell)
    DIR/rates.csv             the fitted exponents (rebuilt at the end of a sweep)
    DIR/.lock                 held with fcntl.flock by the running sweep; a second sweep on the same
                              DIR is refused (SweepLockedError) instead of interleaving its writes

A cell id is a hash of everything that determines the cell's numbers, so re-running a sweep skips
finished cells (resume after Ctrl-C or a killed process) and adds nothing twice.
"""

from __future__ import annotations

import csv
import fcntl
import os

from geomrelax.errors import GeomrelaxError
from geomrelax.store import write_csv  # the one CSV writer (atomic); re-exported for the sweep

__all__ = ["ResultStore", "SweepLockedError", "read_csv", "write_csv"]


class SweepLockedError(GeomrelaxError):
    """Another sweep holds the lock of this results directory."""


def _parse(v: str):
    if v in ("", None):
        return None
    if v in ("True", "False"):
        return v == "True"
    try:
        i = int(v)
        return i
    except ValueError:
        pass
    try:
        return float(v)
    except ValueError:
        return v


def read_csv(path: str) -> list:
    """Rows of a CSV written by write_csv, with numbers parsed back (inf/nan as floats)."""
    with open(path, newline="") as fh:
        return [{k: _parse(v) for k, v in r.items()} for r in csv.DictReader(fh)]


class ResultStore:
    """DIR as described in the module docstring; use as a context manager to hold the lock."""

    def __init__(self, path: str):
        self.path = os.path.abspath(path)
        self.cells = os.path.join(self.path, "cells")
        self._lock = None

    def __enter__(self):
        os.makedirs(self.cells, exist_ok=True)
        fh = open(os.path.join(self.path, ".lock"), "a+")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise SweepLockedError(f"another sweep is writing to {self.path} (its .lock is held); wait for it "
                                   "to finish or choose another --out directory") from None
        self._lock = fh
        return self

    def __exit__(self, *exc):
        if self._lock is not None:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    def _cell_path(self, cell_id: str) -> str:
        return os.path.join(self.cells, f"{cell_id}.csv")

    def done(self, cell_id: str) -> bool:
        return os.path.exists(self._cell_path(cell_id))

    def load(self, cell_id: str) -> list:
        return read_csv(self._cell_path(cell_id))

    def save(self, cell_id: str, rows: list, columns) -> None:
        if self._lock is None:
            raise SweepLockedError("the results store must be opened (with ...) before writing")
        write_csv(self._cell_path(cell_id), rows, columns)

    def finished_ids(self) -> list:
        if not os.path.isdir(self.cells):
            return []
        return sorted(f[:-4] for f in os.listdir(self.cells) if f.endswith(".csv") and not f.startswith("."))

    def merge(self, columns) -> list:
        """Rebuild runs.csv from every finished cell (sorted by cell id) and return its rows."""
        rows = []
        for cid in self.finished_ids():
            rows.extend(self.load(cid))
        cols = list(columns)
        for r in rows:
            for k in r:
                if k not in cols:
                    cols.append(k)
        write_csv(os.path.join(self.path, "runs.csv"), rows, cols)
        return rows
