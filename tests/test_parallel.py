"""The on-demand worker: forked when first asked, one item at a time, replaced when it dies."""

from __future__ import annotations

import os
import signal
import time

import pytest

from vfiolint import parallel
from vfiolint.config import Config
from vfiolint.errors import Skipped
from vfiolint.inputs.stream import InputTimeout, deadline, paused

SETUP = parallel.WorkerSetup((), Config())


def _answer(item: tuple[str, int]) -> tuple[int, int]:
    """Run in the worker: square the number, die, raise or wait, as the item says."""
    what, n = item
    if what == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    if what == "raise":
        raise ValueError(f"no {n}")
    if what == "wait":
        signal.pause()
    return os.getpid(), n * n


def test_a_worker_is_forked_only_when_asked_and_kept_for_the_next_item() -> None:
    worker = parallel.OnDemand(_answer, SETUP)
    try:
        assert worker._pool is None  # nothing forked yet
        pid, nine = worker(("square", 3))
        assert nine == 9 and pid != os.getpid()
        assert worker(("square", 4)) == (pid, 16)  # the same worker
    finally:
        worker.close()
    assert worker._pool is None


def test_an_item_that_kills_its_worker_is_skipped_and_the_next_gets_a_new_one() -> None:
    worker = parallel.OnDemand(_answer, SETUP)
    try:
        first, _ = worker(("square", 1))
        with pytest.raises(Skipped, match=r"^skipped: its worker process was killed \(SIGKILL"):
            worker(("die", 0))
        second, four = worker(("square", 2))
        assert four == 4 and second not in (first, os.getpid())
        with pytest.raises(Skipped, match=r"^internal error: ValueError: no 5$"):
            worker(("raise", 5))
        assert worker(("square", 3))[1] == 9
    finally:
        worker.close()


def test_an_interrupted_wait_stops_the_worker() -> None:
    worker = parallel.OnDemand(_answer, SETUP)
    try:
        pid, _ = worker(("square", 1))
        with pytest.raises(InputTimeout), deadline(0.2, "x"):
            worker(("wait", 0))
        assert worker._pool is None  # stopped: it was mid-item
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # and reaped
        assert worker(("square", 5))[1] == 25
    finally:
        worker.close()


def test_no_answer_within_the_wait_stops_the_worker() -> None:
    worker = parallel.OnDemand(_answer, SETUP)
    try:
        with pytest.raises(TimeoutError):
            worker(("wait", 0), wait=0.2)
        assert worker._pool is None
        assert worker(("square", 6), wait=30)[1] == 36
    finally:
        worker.close()


def test_a_paused_budget_runs_on_afterwards() -> None:
    with pytest.raises(InputTimeout, match=r"^m: skipped: too slow \(over 0.2 s\)$"), \
            deadline(0.2, "m"):
        with paused() as budget:
            assert budget is not None and budget.what == "m" and budget.seconds == 0.2
            time.sleep(0.4)  # the alarm is held: nothing fires here
        time.sleep(5)  # ... and fires as soon as it runs on, the budget spent
    with paused() as none:
        assert none is None


def test_a_file_judged_in_a_worker_keeps_its_message_budget_there() -> None:
    """The worker stops the file that outruns the message's budget itself, with the
    message's error, and stays: the C model it loaded serves the next file."""
    from vfiolint.inputs.images import file_unit
    from vfiolint.rules.loader import load_rules
    from vfiolint.run import Request, _Delegated

    rules = load_rules()
    judge = _Delegated(parallel.WorkerSetup(tuple(rules), Config()), Request().task())
    deep = ("int h(struct vfio_region_info *reg)\n{\n    unsigned int x = " + "(" * 1_000_000
            + "reg->offset" + ")" * 1_000_000 + ";\n    return x;\n}\n").encode()
    small = b"int h(struct vfio_region_info *reg)\n{\n    unsigned int x = reg->offset;\n}\n"
    try:
        judge((file_unit("small.c", small), "small.c", None, Config(), 0))
        pid = judge.worker._pool.workers[0].pid  # type: ignore[union-attr]
        with pytest.raises(InputTimeout, match=r"^deep.c: skipped: too slow \(over 0.2 s\)$"), \
                deadline(0.2, "deep.c"):
            judge((file_unit("deep.c", deep), "deep.c", None, Config(), 0))
        assert judge.worker._pool is not None and judge.worker._pool.workers[0].pid == pid
        judge((file_unit("small.c", small), "small.c", None, Config(), 0))
    finally:
        judge.close()
