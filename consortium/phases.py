"""Phase timers: where a long operation's seconds go, for benchmarks and profiling; silent otherwise.

Code marks its phases with ``with phases.phase("name"):`` (or ``phases.add("name", seconds, cpu)``
for a part of a loop it timed itself).  Nothing is kept, logged or printed unless a caller wraps the
work in ``with phases.recording() as spent:``; ``spent`` is then ``{phase name: wall-clock seconds}``
and ``spent.cpu`` the same for the CPU seconds of the thread that ran the phase.  Phases nest: a
phase's figures are its own time without the phases inside it, so they add up to the whole.  Only
names and seconds are recorded, never a value the code handles.
"""

import time
from contextlib import contextmanager
from contextvars import ContextVar


class Spent(dict):
    """``{phase: wall-clock seconds}``; ``cpu``: ``{phase: CPU seconds of the thread}``."""

    def __init__(self):
        super().__init__()
        self.cpu: dict[str, float] = {}


class _Recording:
    def __init__(self):
        self.spent = Spent()
        self.inner: list[list[float]] = []  # per open phase: [wall, cpu] seconds of the phases inside it so far


_current: ContextVar[_Recording | None] = ContextVar("consortium_phases", default=None)


def active() -> bool:
    """Whether a caller is recording: lets a hot loop skip its clock readings when nobody is."""
    return _current.get() is not None


@contextmanager
def recording():
    """Record the phases of the work inside; yields the :class:`Spent` it fills."""
    record = _Recording()
    token = _current.set(record)
    try:
        yield record.spent
    finally:
        _current.reset(token)


def _count(record: _Recording, name: str, wall: float, cpu: float) -> None:
    spent = record.spent
    spent[name] = spent.get(name, 0.0) + wall
    spent.cpu[name] = spent.cpu.get(name, 0.0) + cpu


@contextmanager
def phase(name: str):
    record = _current.get()
    if record is None:
        yield
        return
    record.inner.append([0.0, 0.0])
    started, started_cpu = time.perf_counter(), time.thread_time()
    try:
        yield
    finally:
        wall, cpu = time.perf_counter() - started, time.thread_time() - started_cpu
        inner = record.inner.pop()
        _count(record, name, wall - inner[0], cpu - inner[1])
        if record.inner:
            record.inner[-1][0] += wall
            record.inner[-1][1] += cpu


def add(name: str, seconds: float, cpu: float = 0.0) -> None:
    """Count ``seconds`` (and ``cpu`` seconds of this thread) the caller measured itself, inside a loop, to ``name``."""
    record = _current.get()
    if record is None:
        return
    _count(record, name, seconds, cpu)
    if record.inner:
        record.inner[-1][0] += seconds
        record.inner[-1][1] += cpu


def timed(iterable, name: str):
    """``iterable``, with the time spent producing each item counted to phase ``name``."""
    iterator = iter(iterable)
    while True:
        started, started_cpu = time.perf_counter(), time.thread_time()
        try:
            item = next(iterator)
        except StopIteration:
            add(name, time.perf_counter() - started, time.thread_time() - started_cpu)
            return
        add(name, time.perf_counter() - started, time.thread_time() - started_cpu)
        yield item


def merge(spent: Spent, *, prefix: str) -> None:
    """Count another thread's recording (overlapping this one's time) under ``prefix`` + its phase names."""
    record = _current.get()
    if record is None:
        return
    for name, seconds in spent.items():
        _count(record, prefix + name, seconds, spent.cpu.get(name, 0.0))
