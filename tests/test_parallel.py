"""The on-demand worker: forked when first asked, one item at a time, replaced when it dies."""

from __future__ import annotations

import os
import signal

import pytest

from vfiolint import parallel
from vfiolint.config import Config
from vfiolint.errors import Skipped
from vfiolint.inputs.stream import InputTimeout, deadline

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
