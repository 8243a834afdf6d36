"""Read an input as a stream of messages, never whole: a 1 GB mbox costs one message of memory.

An mbox is split at ``From `` lines that a header line follows; anything else is one message.
Every input is read the same way, a file as well as a pipe, a device or standard input: a line
at most ``line_bytes + 1`` bytes at a time, so that no input, whatever its content, is ever held
past its limits. Limits turn hostile inputs into a clear "skipped" error for that message
instead of a hang or an exhausted machine.
"""

from __future__ import annotations

import io
import re
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO

from vfiolint.errors import InputError
from vfiolint.limits import MIB, Limits

MBOX_FROM_RE = re.compile(rb"^From \S+ .*(\d{4}|\d\d:\d\d:\d\d)\s*$")
HEADER_RE = re.compile(rb"^([A-Za-z][A-Za-z0-9-]*):[ \t]")


class InputTimeout(InputError):
    """An input that took longer than its time budget."""


@dataclass(frozen=True, slots=True)
class Chunk:
    """One message of an input, or the error that replaced it."""

    number: int
    data: bytes
    error: InputError | None = None


def _where(name: str, number: int) -> str:
    """Name a message of an input (the first one by the input's name alone)."""
    return f"{name}: message {number}" if number > 1 else name


def _closed(number: int, kept: io.BytesIO | None, size: int, longest: int, limits: Limits,
            name: str) -> Chunk:
    """Turn one message into a Chunk, or a "skipped" error past a limit."""
    where = _where(name, number)
    if size > limits.message_bytes:
        return Chunk(number, b"", InputError(
            f"{where}: skipped: too large ({size / MIB:.1f} MiB, "
            f"limit {limits.message_bytes // MIB} MiB)"))
    if longest > limits.line_bytes or kept is None:
        return Chunk(number, b"", InputError(
            f"{where}: skipped: too large (a line of {longest / MIB:.1f} MiB, "
            f"limit {limits.line_bytes / MIB:g} MiB)"))
    return Chunk(number, kept.getvalue())


def _cut(number: int, limits: Limits, name: str) -> Chunk:
    """Give up on a message that no boundary will ever end: the rest is not read."""
    limit = f"{limits.message_bytes / MIB:g} MiB"
    return Chunk(number, b"", InputError(
        f"{_where(name, number)}: skipped: too large (over {limit}, limit {limit}; "
        "not read further)"))


def chunks(stream: BinaryIO, name: str, limits: Limits) -> Iterator[Chunk]:
    """Yield the messages of a stream one by one; an over-limit message yields its error.

    A line is read ``line_bytes + 1`` bytes at most at a time, and past a limit a message is
    counted, not kept. Once a ``From `` line has shown the input to be an mbox, the next
    message is sought beyond an oversized one; an input that has shown no such boundary is not
    read further than its limit and one line (a stream with no end, ``/dev/zero``, costs no
    more). The loop keeps its state in locals: it runs once per line of every input."""
    cap = limits.line_bytes + 1
    most = limits.message_bytes
    done = 0  # messages yielded so far: the one being read is number done + 1
    size = longest = 0
    partial = 0  # how much of an over-long line has been read, while reading one
    kept: io.BytesIO | None = io.BytesIO()  # None once the message is bound to be skipped
    mbox = False
    pending: bytes | None = None  # a From line, until the next line says if it starts a message
    readline, is_from, is_header = stream.readline, MBOX_FROM_RE.match, HEADER_RE.match
    try:
        while piece := readline(cap):
            length = len(piece)
            overlong = partial or (length == cap and piece[-1] != 10)  # 10: "\n"
            if pending is not None:
                if not partial and is_header(piece):  # a long header still ends a message
                    mbox = True
                    if size:
                        yield _closed(done + 1, kept, size, longest, limits, name)
                        done, size, longest, kept = done + 1, 0, 0, io.BytesIO()
                size += len(pending)
                if kept is not None:
                    longest = max(longest, len(pending))
                    kept.write(pending)
                pending = None
            elif not overlong and piece[0] == 70 and is_from(piece):  # 70: "F"
                pending = piece
                continue
            size += length
            if overlong:
                partial += length
                longest = max(longest, partial)
                partial = 0 if length < cap or piece[-1] == 10 else partial
                kept = None
            elif kept is not None:
                longest = max(longest, length)
                kept.write(piece)
            if size > most:
                kept = None
                if not mbox:
                    yield _cut(done + 1, limits, name)
                    return
    except OSError as exc:
        raise InputError(f"{name}: cannot read: {exc.strerror or exc}") from exc
    if pending is not None:
        size += len(pending)
        if kept is not None:
            kept.write(pending)
    if size:
        yield _closed(done + 1, kept, size, longest, limits, name)


@dataclass(frozen=True, slots=True)
class Budget:
    """A time budget in force: what it bounds, how long it is, and when it ends (on the
    monotonic clock, which every process of the machine shares)."""

    what: str
    seconds: float
    ends: float

    def left(self) -> float:
        """Return the seconds left."""
        return self.ends - time.monotonic()

    def exceeded(self) -> InputTimeout:
        """Return the error of work that outran the budget."""
        return InputTimeout(f"{self.what}: skipped: too slow (over {self.seconds:g} s)")


_BUDGETS: list[Budget] = []  # the budgets in force in this process, innermost last


@contextmanager
def deadline(seconds: float, what: str, ends: float | None = None) -> Iterator[None]:
    """Raise InputTimeout in this (main) thread if the block runs longer than ``seconds``;
    ``ends``: when a budget that began in another process ends (a worker finishing what its
    parent began)."""
    if seconds <= 0 or not hasattr(signal, "setitimer"):
        yield
        return
    budget = Budget(what, seconds, time.monotonic() + seconds if ends is None else ends)

    def expire(signum: int, frame: object) -> None:
        raise budget.exceeded()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, max(budget.left(), 1e-6))
    _BUDGETS.append(budget)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        _BUDGETS.pop()


@contextmanager
def paused() -> Iterator[Budget | None]:
    """Hold the budget in force (yielded; None when there is none) while another process
    spends it and this one waits; it runs on afterwards, and one that ran out meanwhile
    raises at once."""
    budget = _BUDGETS[-1] if _BUDGETS else None
    if budget is None:
        yield None
        return
    signal.setitimer(signal.ITIMER_REAL, 0)
    try:
        yield budget
    finally:
        signal.setitimer(signal.ITIMER_REAL, max(budget.left(), 1e-6))
