"""Worker processes: the same work split over processes, merged back in submission order.

The parent streams the work (inputs, or commits read from one ``git log --raw``) in bounded
windows to worker processes forked from it; each worker inherits the rules and opens
the repositories it needs (a ``git cat-file --batch`` reader, the index), kept across items.
Results come back one item at a time and are yielded in the order submitted, so the report is
byte for byte the one ``--jobs 1`` gives. ``OnDemand`` is the same guard for one item at a
time, asked for by a parent that does the rest of the work itself.

A worker never takes the run down with it. The parent knows which item each worker is on: a
worker that dies (the kernel's out-of-memory killer, a crash in C code) costs that item only,
which becomes an error, and the rest of its batch goes to a new worker. The parent also
watches each worker's resident memory and kills one that outgrows its budget, so a runaway
input ends as an error for that input instead of exhausting the machine.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import select
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

from vfiolint.config import Config
from vfiolint.errors import Skipped
from vfiolint.limits import MIB
from vfiolint.rules.loader import Rule

if TYPE_CHECKING:
    from vfiolint.inputs.context import Context
    from vfiolint.run import Task

T = TypeVar("T")
R = TypeVar("R")
BATCH = 16  # items sent to a worker at once (by default)
# A range's commits go 64 at a time: consecutive commits often touch the same files, and one
# worker judging them reuses what it judged (an image met again, index answers, parses).
COMMIT_BATCH = 64
WINDOW = 16  # batches per worker that may be ahead of the oldest unfinished item
WATCH = 0.05  # seconds between two looks at the workers' memory
PIPE_WRITE = 1 << 16  # bytes written to a worker's pipe at a time
PIPE_READ = 1 << 20  # bytes read from a worker's pipe at a time


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
    """A worker process's own state, made once when it starts: the setup, and the trees
    the worker opens (one index per repository, kept across its items)."""

    setup: WorkerSetup
    contexts: dict[tuple[object, ...], Context] = field(default_factory=dict)

    def context(self, task: Task) -> Context:
        """Return this worker's context for the task's cache and index settings."""
        key = (task.cache_root, task.cache_writable, task.index)
        found = self.contexts.get(key)
        if found is None:
            found = self.contexts[key] = task.context()
        return found

    def close(self) -> None:
        """Close the trees the worker opened (their git processes)."""
        for context in self.contexts.values():
            context.close()
        self.contexts.clear()


# Per-process state of a worker: what it builds when it starts, for the functions it runs.
# The parent process never touches it.
_STATE: WorkerState | None = None


def _initialise(setup: WorkerSetup) -> None:
    """Build the worker's state (its repositories are opened when a task needs them)."""
    global _STATE
    _STATE = WorkerState(setup)


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
    return hasattr(os, "fork")


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


def _serve(orders: int, answers: int, fn: Callable[[T], R], setup: WorkerSetup) -> None:
    """Run in a worker: answer each item of each batch read from ``orders``, until told to
    stop (``None``) or the parent is gone. An answer is its pickle's length (8 bytes, big
    endian), then the pickle."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # ^C is the parent's to handle
    _initialise(setup)
    try:
        with os.fdopen(orders, "rb") as source, os.fdopen(answers, "wb") as sink:
            while (batch := pickle.load(source)) is not None:
                for item in batch:
                    try:
                        answer = pickle.dumps(fn(item), pickle.HIGHEST_PROTOCOL)
                    except Exception as exc:  # the function's own net failed: still one item
                        answer = pickle.dumps(_Failed(
                            f"internal error: {type(exc).__name__}: {exc}"))
                    sink.write(len(answer).to_bytes(8, "big"))
                    sink.write(answer)
                    sink.flush()
    except (EOFError, pickle.UnpicklingError, BrokenPipeError):
        pass  # the parent is gone
    finally:
        state().close()


def _fork(fn: Callable[[T], R], setup: WorkerSetup, theirs: list[int]) -> tuple[int, int, int]:
    """Fork a worker; return its pid and the parent's ends of its pipes (orders, answers),
    both non-blocking. ``theirs`` are the parent's ends of the other workers' pipes, which the
    new worker closes: a worker must see the end of its orders when the parent goes away."""
    orders_read, orders_write = os.pipe()
    answers_read, answers_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker: never returns into the parent's code, nor runs its exit handlers
        code = 1
        try:
            for fd in (orders_write, answers_read, *theirs):
                os.close(fd)
            _serve(orders_read, answers_write, fn, setup)
            code = 0
        finally:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            os._exit(code)
    os.close(orders_read)
    os.close(answers_write)
    os.set_blocking(orders_write, False)
    os.set_blocking(answers_read, False)
    return pid, orders_write, answers_read


@dataclass
class _Worker(Generic[T]):
    """A worker process as the parent sees it: the pipe its orders go down (written without
    ever blocking, from ``outbox``), the pipe its answers come up (read into ``inbox``), and
    the items it still owes, the first being the one it is on."""

    pid: int
    orders: int
    answers: int
    outbox: bytearray = field(default_factory=bytearray)
    inbox: bytearray = field(default_factory=bytearray)
    owed: deque[tuple[int, T]] = field(default_factory=deque)
    ended: bool = False  # its answers pipe is closed: it has exited
    killed: str = ""  # why the parent killed it

    def flush(self) -> None:
        """Write what the pipe takes of the outbox now."""
        try:
            while self.outbox:
                del self.outbox[:os.write(self.orders, self.outbox[:PIPE_WRITE])]
        except BlockingIOError:
            pass
        except OSError:  # it died: the end of its answers says so
            self.outbox.clear()

    def take(self) -> list[bytes]:
        """Read what has come up the answers pipe; return the whole answers in it."""
        try:
            while data := os.read(self.answers, PIPE_READ):
                self.inbox += data
            self.ended = True
        except BlockingIOError:
            pass
        answers = []
        at = 0
        while len(self.inbox) - at >= 8:
            size = int.from_bytes(self.inbox[at:at + 8], "big")
            if len(self.inbox) - at - 8 < size:
                break
            answers.append(bytes(self.inbox[at + 8:at + 8 + size]))
            at += 8 + size
        del self.inbox[:at]
        return answers

    def resident(self) -> int:
        """Return the worker's resident memory in bytes (0 if it cannot be read)."""
        try:
            pages = Path(f"/proc/{self.pid}/statm").read_text().split()[1]
        except (OSError, IndexError):
            return 0
        return int(pages) * os.sysconf("SC_PAGE_SIZE")

    def reap(self) -> int:
        """Close the parent's ends of the worker's pipes; wait for it; return its exit code
        (negative: the signal that ended it)."""
        for fd in (self.orders, self.answers):
            with contextlib.suppress(OSError):
                os.close(fd)
        return os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])


def _death(worker: _Worker[T], code: int) -> str:
    """Say why a worker ended, as the error of the item it was on."""
    if worker.killed:
        return worker.killed
    if code < 0:
        name = signal.Signals(-code).name
        if -code == signal.SIGKILL:
            return f"skipped: its worker process was killed ({name}; out of memory?)"
        return f"skipped: its worker process died ({name})"
    return f"skipped: its worker process ended early (exit code {code})"


class _Pool(Generic[T, R]):
    """Workers that answer items in batches, replaced when one dies.

    The parent never blocks on a worker: orders are written as the pipes take them (so the
    next batch can wait in a worker's pipe while it works on the current one) and answers
    read as they come."""

    def __init__(self, fn: Callable[[T], R], jobs: int, setup: WorkerSetup,
                 lost: Callable[[T, str], R], batch: int = BATCH) -> None:
        self.fn, self.setup, self.lost, self.batch = fn, setup, lost, batch
        gc.freeze()  # a worker's collections leave the parent's objects (and their pages) alone
        self.workers: list[_Worker[T]] = []
        for _ in range(jobs):
            self.workers.append(self._start())
        self.retry: deque[list[tuple[int, T]]] = deque()  # what dead workers left undone
        self.results: dict[int, R] = {}

    def _start(self) -> _Worker[T]:
        """Fork a worker."""
        theirs = [fd for w in self.workers for fd in (w.orders, w.answers)]
        return _Worker(*_fork(self.fn, self.setup, theirs))

    def give(self, worker: _Worker[T], batch: list[tuple[int, T]]) -> None:
        """Send a batch to a worker (after what it has, if anything)."""
        worker.owed.extend(batch)
        worker.outbox += pickle.dumps([item for _, item in batch], pickle.HIGHEST_PROTOCOL)
        worker.flush()

    def hungry(self) -> list[_Worker[T]]:
        """Return the workers that owe less than a batch: one more keeps each busy while the
        parent takes in what it sent."""
        return [w for w in self.workers if len(w.owed) < self.batch]

    def idle(self) -> bool:
        """Tell whether every worker owes nothing."""
        return not any(w.owed for w in self.workers)

    def step(self) -> None:
        """Wait for answers, an end or room in a pipe; collect answers; bury the dead; watch
        the workers' memory."""
        poll = select.poll()
        for worker in self.workers:
            poll.register(worker.answers, select.POLLIN)
            if worker.outbox:
                poll.register(worker.orders, select.POLLOUT)
        ready = {fd for fd, _ in poll.poll(WATCH * 1000)}
        for worker in list(self.workers):
            if worker.outbox and worker.orders in ready:
                worker.flush()
            if worker.answers in ready:
                self._receive(worker)
            if worker.ended:
                self._bury(worker)
        if self.setup.memory:
            for worker in self.workers:
                if worker.owed and not worker.killed and worker.resident() > self.setup.memory:
                    worker.killed = (f"skipped: too large (over the memory limit of "
                                     f"{self.setup.memory // MIB} MiB)")
                    os.kill(worker.pid, signal.SIGKILL)

    def _receive(self, worker: _Worker[T]) -> None:
        """Take every answer a worker has sent so far."""
        for data in worker.take():
            answer = pickle.loads(data)
            index, item = worker.owed.popleft()
            self.results[index] = (self.lost(item, answer.message)
                                   if isinstance(answer, _Failed) else answer)

    def _bury(self, worker: _Worker[T]) -> None:
        """Settle what a dead worker owed: its current item is an error, the rest is retried."""
        code = worker.reap()
        if worker.owed:
            index, item = worker.owed.popleft()
            self.results[index] = self.lost(item, _death(worker, code))
            if worker.owed:
                self.retry.append(list(worker.owed))
        self.workers.remove(worker)
        self.workers.append(self._start())

    def close(self, wait: float = 1) -> None:
        """Stop every worker: politely, then, after ``wait`` seconds, not."""
        for worker in self.workers:
            worker.outbox += pickle.dumps(None)
            worker.flush()
        deadline = time.monotonic() + wait
        for worker in self.workers:
            while not worker.ended and time.monotonic() < deadline:
                select.select([worker.answers], [], [], max(deadline - time.monotonic(), 0))
                worker.take()
            if not worker.ended:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.pid, signal.SIGKILL)
            worker.reap()
        gc.unfreeze()


class OnDemand(Generic[T, R]):
    """One worker process, forked when first asked, that runs one item at a time while this
    process waits: the work this process does itself (reading mail, say) hands over only
    what needs the guard (parsing C). A run that asks for nothing forks nothing.

    The worker's memory is watched as a pool's is. An item whose worker died or was stopped
    raises ``Skipped`` (a new worker is forked for the next), and so does one whose function
    raised; an exception in this process while it waits (a deadline, or the end of ``wait``)
    stops the worker, which may be mid-item."""

    def __init__(self, fn: Callable[[T], R], setup: WorkerSetup) -> None:
        self.fn, self.setup = fn, setup
        self._pool: _Pool[T, R | _Failed] | None = None

    def __call__(self, item: T, wait: float | None = None) -> R:
        """Run ``fn(item)`` in the worker and return what it returned; raise TimeoutError
        (the worker stopped) when no answer came within ``wait`` seconds."""
        if self._pool is None:
            self._pool = _Pool(self.fn, 1, self.setup, lambda _, message: _Failed(message))
        pool = self._pool
        until = None if wait is None else time.monotonic() + wait
        try:
            pool.give(pool.workers[0], [(0, item)])
            while 0 not in pool.results:
                if until is not None and time.monotonic() > until:
                    raise TimeoutError(f"no answer within {wait:g} s")
                pool.step()
        except BaseException:
            self.close(wait=0)
            raise
        answer = pool.results.pop(0)
        if isinstance(answer, _Failed):
            raise Skipped(answer.message)
        return answer

    def close(self, wait: float = 1) -> None:
        """Stop the worker, if one was forked."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.close(wait)


def ordered_map(fn: Callable[[T], R], items: Iterable[T], jobs: int, setup: WorkerSetup,
                lost: Callable[[T, str], R], batch: int = BATCH) -> Iterator[R]:
    """Apply ``fn`` to items in ``jobs`` worker processes, yielding results in the items' order.

    Items go to a worker ``batch`` at a time, consecutive ones together. At most ``jobs *
    WINDOW`` batches are ahead of the oldest unanswered item, so a long stream of work stays
    bounded. An item whose worker died, or whose function raised, is replaced by ``lost(item,
    message)``, the message saying what happened ("skipped: …")."""
    pool: _Pool[T, R] = _Pool(fn, jobs, setup, lost, batch)
    source = batched(enumerate(items), batch)
    ahead = jobs * WINDOW * batch
    given = following = 0  # items taken from the source; the next index to yield
    exhausted = False
    try:
        while True:
            for worker in pool.hungry():
                if pool.retry:
                    pool.give(worker, pool.retry.popleft())
                elif not exhausted and given < following + ahead:
                    taken = next(source, None)
                    if taken is None:
                        exhausted = True
                        break
                    given += len(taken)
                    pool.give(worker, taken)
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
