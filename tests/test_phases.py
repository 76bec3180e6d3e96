"""Phase timers (consortium.phases): silent unless recorded, nested phases counted once."""

import threading
import time

from consortium import phases


def test_nothing_is_kept_without_a_recording():
    assert not phases.active()
    with phases.phase("anything"):
        phases.add("loop", 1.0)
    phases.merge(phases.Spent(), prefix="thread: ")  # no error, nothing to keep it in


def test_a_phase_counts_its_own_time_without_the_phases_inside_it():
    with phases.recording() as spent:
        assert phases.active()
        with phases.phase("outer"):
            time.sleep(0.02)
            with phases.phase("inner"):
                time.sleep(0.03)
            started, started_cpu = time.perf_counter(), time.thread_time()
            time.sleep(0.05)  # a part of a loop the caller timed itself
            measured_cpu = time.thread_time() - started_cpu
            phases.add("measured", time.perf_counter() - started, measured_cpu)
        with phases.phase("inner"):
            pass
    assert not phases.active()
    assert set(spent) == {"outer", "inner", "measured"}
    assert 0.03 <= spent["inner"] < 0.2
    assert 0.05 <= spent["measured"] < 0.2
    assert 0.02 <= spent["outer"] < 0.05 + 0.1  # neither the inner phase nor the measured part
    assert set(spent.cpu) == set(spent) and spent.cpu["measured"] == measured_cpu
    assert all(seconds < 0.02 for seconds in spent.cpu.values())  # sleeping takes (almost) no CPU


def test_another_threads_recording_is_merged_under_a_prefix():
    found = phases.Spent()

    def work():
        assert not phases.active()  # a thread starts outside the caller's recording
        with phases.recording() as spent, phases.phase("parse"):
            sum(range(10000))
        found.update(spent)
        found.cpu.update(spent.cpu)

    with phases.recording() as spent:
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
        phases.merge(found, prefix="reader: ")
        phases.merge(found, prefix="reader: ")
    assert spent == {"reader: parse": 2 * found["parse"]}
    assert spent.cpu == {"reader: parse": 2 * found.cpu["parse"]}
