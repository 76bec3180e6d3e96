"""Phase timers: where a long operation's seconds go, for benchmarks and profiling; silent otherwise.

Code marks its phases with ``with phases.phase("name"):`` (or ``phases.add("name", seconds)`` for
a part of a loop it timed itself).  Nothing is kept, logged or printed unless a caller wraps the work
in ``with phases.recording() as spent:``; ``spent`` is then ``{phase name: seconds}``.  Phases nest:
a phase's figure is its own time without the phases inside it, so the figures add up to the whole.
Only names and seconds are recorded, never a value the code handles.
"""

import time
from contextlib import contextmanager
from contextvars import ContextVar


class _Recording:
    def __init__(self):
        self.spent: dict[str, float] = {}
        self.inner: list[float] = []  # per open phase: seconds of the phases inside it so far


_current: ContextVar[_Recording | None] = ContextVar("consortium_phases", default=None)


def active() -> bool:
    """Whether a caller is recording: lets a hot loop skip its clock readings when nobody is."""
    return _current.get() is not None


@contextmanager
def recording():
    """Record the phases of the work inside; yields the ``{phase: seconds}`` dict it fills."""
    record = _Recording()
    token = _current.set(record)
    try:
        yield record.spent
    finally:
        _current.reset(token)


@contextmanager
def phase(name: str):
    record = _current.get()
    if record is None:
        yield
        return
    record.inner.append(0.0)
    started = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - started
        inner = record.inner.pop()
        record.spent[name] = record.spent.get(name, 0.0) + elapsed - inner
        if record.inner:
            record.inner[-1] += elapsed


def add(name: str, seconds: float) -> None:
    """Count ``seconds`` the caller measured itself (inside a loop) to ``name``."""
    record = _current.get()
    if record is None:
        return
    record.spent[name] = record.spent.get(name, 0.0) + seconds
    if record.inner:
        record.inner[-1] += seconds


def merge(spent: dict[str, float], *, prefix: str) -> None:
    """Count another thread's recording (overlapping this one's time) under ``prefix`` + its phase names."""
    record = _current.get()
    if record is None:
        return
    for name, seconds in spent.items():
        record.spent[prefix + name] = record.spent.get(prefix + name, 0.0) + seconds
