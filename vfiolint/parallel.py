"""``--jobs``: the same work split over processes, merged back in submission order.

The parent streams the work (inputs, or commits read from one ``git log -p``) in bounded
windows to a process pool; each worker loads the rules once and, for a range, keeps its own
``git cat-file --batch`` reader. Results come back in the order submitted, so the report is
byte for byte the one ``--jobs 1`` gives.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from vfiolint.config import Config
from vfiolint.rules.loader import Rule

if TYPE_CHECKING:
    from vfiolint.inputs.trees import Context
    from vfiolint.run import Task

T = TypeVar("T")
R = TypeVar("R")
WINDOW = 4  # tasks in flight per worker: enough to hide latency, bounded memory


@dataclass(frozen=True, slots=True)
class WorkerSetup:
    """What a worker needs to analyse anything: rules, configuration, and the repository."""

    rules: tuple[Rule, ...]
    config: Config
    repo: Path | None = None


@dataclass
class WorkerState:
    """A worker process's own state, made once by the pool initializer: the setup, and the
    trees the worker opens (one index per repository, kept across its tasks)."""

    setup: WorkerSetup
    contexts: dict[tuple[object, ...], Context] = field(default_factory=dict)

    def context(self, task: Task) -> Context:
        """Return this worker's context for the task's cache and index settings."""
        key = (task.cache_root, task.cache_writable, task.index)
        found = self.contexts.get(key)
        if found is None:
            found = self.contexts[key] = task.context()
            atexit.register(found.close)
        return found


# Per-process state of a pool worker: a ProcessPoolExecutor initializer can only leave what it
# builds in the worker's module globals. The parent process never touches it.
_STATE: WorkerState | None = None


def _initialise(setup: WorkerSetup) -> None:
    """Build the worker's state (its repositories are opened when a task needs them)."""
    global _STATE
    _STATE = WorkerState(setup)


def state() -> WorkerState:
    """Return this worker's state."""
    assert _STATE is not None, "called outside a pool worker"
    return _STATE


def default_jobs() -> int:
    """Return the default number of jobs: the cores this process may use."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:
        return os.cpu_count() or 1


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Group a stream of items into lists of ``size`` (the last may be shorter)."""
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def ordered_map(fn: Callable[[T], R], items: Iterable[T], jobs: int,
                setup: WorkerSetup) -> Iterator[R]:
    """Apply ``fn`` to items in ``jobs`` processes, yielding results in the items' order.

    At most ``jobs * WINDOW`` items are in flight, so a long stream of work stays bounded."""
    from concurrent.futures import Future, ProcessPoolExecutor  # only runs with a pool pay

    pending: list[Future[R]] = []
    with ProcessPoolExecutor(max_workers=jobs, initializer=_initialise,
                             initargs=(setup,)) as pool:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= jobs * WINDOW:
                yield pending.pop(0).result()
        while pending:
            yield pending.pop(0).result()
