"""Time limits for sympy: soft limits inside a process, and a worker process that is killed at a deadline.

Two layers:

* ``limited(fn, seconds)`` / ``Clock``: a soft limit for one sympy call. In the main thread SIGALRM
  interrupts sympy where it is (raising ``Timeout``, a BaseException so that sympy's ``except Exception``
  cannot swallow it); elsewhere fn runs in a daemon thread that is abandoned on timeout. Soft: a C-level
  loop (big-integer arithmetic, ``factor`` of a large polynomial) does not reach a point where the
  signal is handled, and an abandoned thread keeps running. The validation's short sympy calls use it.

* ``run_in_worker(fn, args, seconds)``: a hard limit. fn(*args) runs in a child process; when it has
  not answered ``seconds`` (plus ``GRACE`` for the process start and the transfer of the result) after
  the start, the child is killed (SIGKILL) and reaped, and ``Timeout`` is raised. The result travels
  back pickled, so it must be plain data (sympy expressions, numbers, lists), never lambdified
  functions. The symbolic derivation runs this way.

Start method: ``fork`` where the platform has it. Measured on this project's machine (sympy, numpy
and geomrelax imported; with torch imported too in brackets): fork 20-35 ms per worker, forkserver
1.0-1.5 s (2 s), spawn 1.9-2.2 s (2-3.5 s); forkserver and spawn pay the import of sympy in every
child, which would multiply the cost of every from_expr. fork is chosen because of that cost, and
because what makes fork unsafe does not apply here: the child runs only sympy, mpmath and numpy's
elementwise code (never torch, CUDA or a BLAS thread pool), and it never imports the user's
``__main__`` again (spawn and forkserver do, which re-runs an unguarded script). The remaining risk
of fork, a lock held by another thread of the parent at the moment of the fork, can only make the
child hang, and the deadline then kills it like any other overrun. Where fork does not exist (Windows)
spawn is used. A daemonic process (a multiprocessing pool worker) may not have children: there fn
runs in-process under the soft limit.
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
import time
import traceback
from typing import Callable, Optional

__all__ = ["Timeout", "WorkerError", "limited", "Clock", "run_in_worker", "GRACE"]

GRACE = 0.5  # seconds on top of the limit for starting the child and sending the result back


class Timeout(BaseException):
    """Raised when a time limit runs out (BaseException: sympy's `except Exception` must not eat it)."""


class WorkerError(Exception):
    """fn raised in the worker: ``kind`` is the exception's class name, ``payload`` what it carried."""

    def __init__(self, kind: str, message: str, payload=None):
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message
        self.payload = payload


def limited(fn: Callable, seconds: float):
    """fn() under a soft wall-clock limit; raises Timeout when it runs out (see the module docstring)."""
    if seconds <= 0:
        raise Timeout()
    if (threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
            and signal.getitimer(signal.ITIMER_REAL)[0] == 0):
        def on_alarm(signum, frame):
            raise Timeout()

        previous = signal.signal(signal.SIGALRM, on_alarm)
        try:
            signal.setitimer(signal.ITIMER_REAL, seconds)
            return fn()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    box: dict = {}

    def work():
        try:
            box["value"] = fn()
        except BaseException as err:  # handed to the caller
            box["error"] = err

    worker = threading.Thread(target=work, daemon=True, name="geomrelax-sympy")
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise Timeout()
    if "error" in box:
        raise box["error"]
    return box["value"]


class Clock:
    """A budget of seconds shared by consecutive sympy calls, each under ``limited``."""

    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()

    def run(self, fn: Callable, cap: Optional[float] = None):
        left = self.left() if cap is None else min(cap, self.left())
        return limited(fn, left)


def _context():
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _payload(err: Exception):
    """The plain data an exception offers for the trip back (its ``payload()``), else None."""
    return err.payload() if callable(getattr(err, "payload", None)) else None


def _child(conn, fn, args) -> None:
    """The worker's body: fn(*args), and one message back: ('ok', value), ('timeout', None) or
    ('error', (class name, message, payload)) where payload is what the exception's ``payload()``
    gives (plain data), if it has one."""
    try:
        try:
            msg = ("ok", fn(*args))
        except Timeout:
            msg = ("timeout", None)
        except Exception as err:  # reported to the parent, which decides
            text = str(err) or traceback.format_exception_only(type(err), err)[-1].strip()
            msg = ("error", (type(err).__name__, text, _payload(err)))
        try:
            conn.send(msg)
        except Exception as err:  # an unpicklable result
            conn.send(("error", (type(err).__name__, f"result cannot be sent back: {err}", None)))
    finally:
        conn.close()


def run_in_worker(fn: Callable, args: tuple, seconds: float):
    """fn(*args) in a child process, killed when it has not answered within ``seconds`` + GRACE.

    Returns fn's value; raises Timeout when the deadline passed (or fn raised Timeout itself), and
    WorkerError when fn raised or the child died. No child outlives the call."""
    if seconds <= 0:
        raise Timeout()
    if multiprocessing.current_process().daemon:  # daemonic processes may not have children
        try:
            return limited(lambda: fn(*args), seconds)
        except Timeout:
            raise
        except Exception as err:
            raise WorkerError(type(err).__name__, str(err), _payload(err)) from None
    ctx = _context()
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(send, fn, args), daemon=True, name="geomrelax-derive")
    proc.start()
    send.close()  # the parent's copy: the child's end closing then shows as EOF here
    try:
        if not receive.poll(seconds + GRACE):
            raise Timeout()
        try:
            kind, value = receive.recv()
        except EOFError:
            proc.join(1.0)
            raise WorkerError("WorkerDied", f"the worker process ended without an answer "
                                            f"(exit code {proc.exitcode})") from None
    finally:
        receive.close()
        if proc.is_alive():
            proc.join(0.2)  # it exits right after sending
        if proc.is_alive():
            proc.kill()
        proc.join()
    if kind == "ok":
        return value
    if kind == "timeout":
        raise Timeout()
    raise WorkerError(*value)
