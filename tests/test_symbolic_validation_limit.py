"""The validation of a formula runs under a hard deadline too (a worker process, killed when time is up)."""

import multiprocessing
import threading
import time

import pytest

import geomrelax as gr
from geomrelax.errors import InvalidRegularizerError, NotConvexError, NotStronglyConvexError
from geomrelax.symbolic import regularizer as reg_mod
from geomrelax.symbolic import validate as val_mod


def test_a_validation_that_never_ends_is_stopped(monkeypatch):
    # stand-in for sympy stuck in C code: a sleep no signal handler in sympy would ever see
    monkeypatch.setattr(val_mod, "_validate", lambda *a, **k: time.sleep(3600))
    monkeypatch.setattr(reg_mod, "VALIDATION_MIN_SECONDS", 1.0)
    box = {}

    def call():
        try:
            gr.from_expr("x**2/2 + x**4/4", timeout=1.0)
        except Exception as exc:  # examined below
            box["error"] = exc

    # in a thread, so that a limit that does not stop the work fails this test instead of hanging the suite
    t0 = time.monotonic()
    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    worker.join(30)
    # 1 s limit + the worker's 0.5 s grace + process start and reaping; 10 s leaves room on a busy machine
    assert not worker.is_alive() and time.monotonic() - t0 < 10, "the validation was not stopped"
    assert isinstance(box.get("error"), InvalidRegularizerError), box
    assert "could not be checked within 1 s" in str(box["error"])
    assert not multiprocessing.active_children()


def test_refusals_from_the_worker_keep_their_class_and_witness():
    with pytest.raises(NotConvexError) as err:
        gr.from_expr("x**2/2 - x**4", domain=(-1, 1))
    assert err.value.point is not None and err.value.curvature < 0
    with pytest.raises(NotStronglyConvexError):
        gr.from_expr("x**4", domain=(-1, 1))


def test_validated_functions_are_rebuilt_in_the_parent():
    V = gr.from_expr("x**2/2 + x**4/4", domain=(-1, 1))
    assert V.mu == pytest.approx(1.0)
    assert float(V.value([0.5])) == pytest.approx(0.5**2 / 2 + 0.5**4 / 4, rel=1e-15)
