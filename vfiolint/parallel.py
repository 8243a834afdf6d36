"""Worker processes: the same work split over processes, merged back in submission order.

The parent streams the work (inputs, or commits read from one ``git log -p``) in bounded
windows to worker processes forked from it; each worker inherits the rules and, for a range,
keeps its own ``git cat-file --batch`` reader. Results come back one item at a time and are
yielded in the order submitted, so the report is byte for byte the one ``--jobs 1`` gives.

A worker never takes the run down with it. The parent knows which item each worker is on: a
worker that dies (the kernel's out-of-memory killer, a crash in C code) costs that item only,
which becomes an error, and the rest of its batch goes to a new worker. The parent also
watches each worker's resident memory and kills one that outgrows its budget, so a runaway
input ends as an error for that input instead of exhausting the machine.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import select
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

from vfiolint.config import Config
from vfiolint.limits import MIB
from vfiolint.rules.loader import Rule

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

T = TypeVar("T")
R = TypeVar("R")
BATCH = 16  # items sent to a worker at once
WINDOW = 4  # batches per worker that may be ahead of the oldest unfinished item
WATCH = 0.05  # seconds between two looks at the workers' memory
PIPE_WRITE = 1 << 16  # bytes written to a worker's pipe at a time


@dataclass(frozen=True, slots=True)
class WorkerSetup:
    """What a worker needs to analyse anything: rules, configuration, the repository, and
    the resident memory it may reach (bytes; 0 for no bound)."""

    rules: tuple[Rule, ...]
    config: Config
    repo: Path | None = None
    memory: int = 0


@dataclass
class WorkerState:
    """A worker process's own state, made once when it starts."""

    setup: WorkerSetup
    reader: object | None = None


# Per-process state of a worker: what it builds when it starts, for the functions it runs.
# The parent process never touches it.
_STATE: WorkerState | None = None


def _initialise(setup: WorkerSetup) -> None:
    """Build the worker's state: the rules, and a blob reader for a repository."""
    global _STATE
    reader = None
    if setup.repo is not None:
        from vfiolint.inputs.git import BlobReader

        reader = BlobReader(setup.repo)
    _STATE = WorkerState(setup, reader)


def state() -> WorkerState:
    """Return this worker's state."""
    assert _STATE is not None, "called outside a worker"
    return _STATE


def default_jobs() -> int:
    """Return the default number of jobs: the cores this process may use."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:
        return os.cpu_count() or 1


def available() -> bool:
    """Tell whether workers can be forked here (they inherit rules and open descriptors)."""
    return "fork" in multiprocessing.get_all_start_methods()


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


@dataclass(frozen=True, slots=True)
class _Failed:
    """What a worker sends back for an item whose function raised."""

    message: str


def _serve(orders: int, answers: Connection, fn: Callable[[T], R], setup: WorkerSetup,
           stdin: int, others: list[int]) -> None:
    """Run in a worker: answer each item of each batch read from ``orders``, until told to
    stop (``None``) or the parent is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # ^C is the parent's to handle
    for fd in others:  # the parent's ends of the orders pipes
        with contextlib.suppress(OSError):
            os.close(fd)
    if stdin >= 0:  # multiprocessing gave the worker /dev/null: give it the input ``-`` back
        os.dup2(stdin, 0)
        os.close(stdin)
    _initialise(setup)
    try:
        with os.fdopen(orders, "rb") as source:
            while (batch := pickle.load(source)) is not None:
                for item in batch:
                    try:
                        answers.send(fn(item))
                    except Exception as exc:  # the function's own net failed: still one item
                        answers.send(_Failed(f"internal error: {type(exc).__name__}: {exc}"))
    except (EOFError, BrokenPipeError, ConnectionResetError):
        pass  # the parent is gone
    finally:
        reader = state().reader
        close = getattr(reader, "close", None)
        if close is not None:
            close()


@dataclass
class _Worker(Generic[T]):
    """A worker process as the parent sees it: the pipe its orders go down (written without
    ever blocking, from ``outbox``), the connection its answers come back on, and the items it
    still owes, the first being the one it is on."""

    process: BaseProcess
    orders: int
    answers: Connection
    outbox: bytearray = field(default_factory=bytearray)
    owed: deque[tuple[int, T]] = field(default_factory=deque)
    killed: str = ""  # why the parent killed it

    def flush(self) -> None:
        """Write what the pipe takes of the outbox now."""
        try:
            while self.outbox:
                del self.outbox[:os.write(self.orders, self.outbox[:PIPE_WRITE])]
        except BlockingIOError:
            pass
        except OSError:  # it died: its sentinel says so, and _bury() settles what it owed
            self.outbox.clear()

    def resident(self) -> int:
        """Return the worker's resident memory in bytes (0 if it cannot be read)."""
        try:
            pages = Path(f"/proc/{self.process.pid}/statm").read_text().split()[1]
        except (OSError, IndexError):
            return 0
        return int(pages) * os.sysconf("SC_PAGE_SIZE")

    def close(self) -> None:
        """Close the parent's ends of the worker's pipes."""
        with contextlib.suppress(OSError):
            os.close(self.orders)
        self.answers.close()


def _death(worker: _Worker[T]) -> str:
    """Say why a worker ended, as the error of the item it was on."""
    if worker.killed:
        return worker.killed
    code = worker.process.exitcode
    if code is not None and code < 0:
        name = signal.Signals(-code).name
        if -code == signal.SIGKILL:
            return f"skipped: its worker process was killed ({name}; out of memory?)"
        return f"skipped: its worker process died ({name})"
    return f"skipped: its worker process ended early (exit code {code})"


class _Pool(Generic[T, R]):
    """Workers that answer items in batches, replaced when one dies.

    The parent never blocks on a worker: orders are written as the pipes take them, so the
    next batch can wait in a worker's pipe while it works on the current one."""

    def __init__(self, fn: Callable[[T], R], jobs: int, setup: WorkerSetup,
                 lost: Callable[[T, str], R]) -> None:
        self.fn, self.setup, self.lost = fn, setup, lost
        self.context = multiprocessing.get_context("fork")
        try:
            self.stdin = os.dup(0)
        except OSError:
            self.stdin = -1  # no standard input at all
        self.workers: list[_Worker[T]] = []
        for _ in range(jobs):
            self.workers.append(self._start())
        self.retry: deque[list[tuple[int, T]]] = deque()  # what dead workers left undone
        self.results: dict[int, R] = {}

    def _start(self) -> _Worker[T]:
        """Fork a worker."""
        read_end, write_end = os.pipe()
        answers, child_answers = self.context.Pipe(duplex=False)
        # The write ends of the orders pipes are the parent's alone, so that a worker sees the
        # end of its orders when the parent goes away (descriptors held by Connection objects
        # are left alone: the objects would close them again).
        others = [w.orders for w in self.workers] + [write_end]
        process = self.context.Process(
            target=_serve, daemon=True,
            args=(read_end, child_answers, self.fn, self.setup, self.stdin, others))
        process.start()
        os.close(read_end)
        child_answers.close()
        os.set_blocking(write_end, False)
        return _Worker(process, write_end, answers)

    def give(self, worker: _Worker[T], batch: list[tuple[int, T]]) -> None:
        """Send a batch to a worker (after what it has, if anything)."""
        worker.owed.extend(batch)
        worker.outbox += pickle.dumps([item for _, item in batch], pickle.HIGHEST_PROTOCOL)
        worker.flush()

    def hungry(self) -> list[_Worker[T]]:
        """Return the workers that owe less than a batch: one more keeps each busy while the
        parent takes in what it sent."""
        return [w for w in self.workers if len(w.owed) < BATCH]

    def idle(self) -> bool:
        """Tell whether every worker owes nothing."""
        return not any(w.owed for w in self.workers)

    def step(self) -> None:
        """Wait for answers, a death or room in a pipe; collect answers; watch the workers'
        memory."""
        poll = select.poll()
        for worker in self.workers:
            poll.register(worker.process.sentinel, select.POLLIN)
            if worker.owed:
                poll.register(worker.answers.fileno(), select.POLLIN)
            if worker.outbox:
                poll.register(worker.orders, select.POLLOUT)
        ready = {fd for fd, _ in poll.poll(WATCH * 1000)}
        for worker in self.workers:
            if worker.outbox and worker.orders in ready:
                worker.flush()
            if worker.owed and worker.answers.fileno() in ready:
                self._receive(worker)
        for worker in list(self.workers):
            if worker.process.sentinel in ready:
                self._bury(worker)
        if self.setup.memory:
            for worker in self.workers:
                if worker.owed and not worker.killed and worker.resident() > self.setup.memory:
                    worker.killed = (f"skipped: too large (over the memory limit of "
                                     f"{self.setup.memory // MIB} MiB)")
                    worker.process.kill()

    def _receive(self, worker: _Worker[T]) -> None:
        """Take every answer a worker has sent so far."""
        try:
            while worker.owed and worker.answers.poll():
                answer = worker.answers.recv()
                index, item = worker.owed.popleft()
                self.results[index] = (self.lost(item, answer.message)
                                       if isinstance(answer, _Failed) else answer)
        except (EOFError, OSError):
            pass  # it died: _bury() settles what it owed

    def _bury(self, worker: _Worker[T]) -> None:
        """Settle what a dead worker owed: its current item is an error, the rest is retried."""
        self._receive(worker)
        worker.process.join()
        worker.close()
        if worker.owed:
            index, item = worker.owed.popleft()
            self.results[index] = self.lost(item, _death(worker))
            if worker.owed:
                self.retry.append(list(worker.owed))
        self.workers.remove(worker)
        self.workers.append(self._start())

    def close(self, wait: float = 1) -> None:
        """Stop every worker: politely, then, after ``wait`` seconds, not."""
        for worker in self.workers:
            worker.outbox += pickle.dumps(None)
            worker.flush()
        for worker in self.workers:
            worker.process.join(timeout=wait)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.close()
        if self.stdin >= 0:
            os.close(self.stdin)


def ordered_map(fn: Callable[[T], R], items: Iterable[T], jobs: int, setup: WorkerSetup,
                lost: Callable[[T, str], R]) -> Iterator[R]:
    """Apply ``fn`` to items in ``jobs`` worker processes, yielding results in the items' order.

    At most ``jobs * WINDOW`` batches are ahead of the oldest unanswered item, so a long stream
    of work stays bounded. An item whose worker died, or whose function raised, is replaced by
    ``lost(item, message)``, the message saying what happened ("skipped: …")."""
    pool: _Pool[T, R] = _Pool(fn, jobs, setup, lost)
    source = batched(enumerate(items), BATCH)
    ahead = jobs * WINDOW * BATCH
    given = following = 0  # items taken from the source; the next index to yield
    exhausted = False
    try:
        while True:
            for worker in pool.hungry():
                if pool.retry:
                    pool.give(worker, pool.retry.popleft())
                elif not exhausted and given < following + ahead:
                    batch = next(source, None)
                    if batch is None:
                        exhausted = True
                        break
                    given += len(batch)
                    pool.give(worker, batch)
            if exhausted and not pool.retry and pool.idle():
                break
            pool.step()
            while following in pool.results:
                yield pool.results.pop(following)
                following += 1
        while following in pool.results:
            yield pool.results.pop(following)
            following += 1
    except BaseException:  # ^C, or the caller stopped early: the workers' work is lost anyway
        pool.close(wait=0)
        raise
    pool.close()
