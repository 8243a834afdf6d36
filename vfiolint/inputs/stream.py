"""Read an input as a stream of messages, never whole: a 1 GB mbox costs one message of memory.

An mbox is split at ``From `` lines that a header line follows; anything else is one message.
Limits turn hostile inputs into a clear "skipped" error for that message instead of a hang or
an exhausted machine.
"""

from __future__ import annotations

import re
import signal
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


def _closed(number: int, lines: list[bytes], size: int, longest: int, limits: Limits,
            name: str) -> Chunk:
    """Turn the lines of one message into a Chunk, or a "skipped" error past a limit."""
    where = f"{name}: message {number}" if number > 1 else name
    if size > limits.message_bytes:
        return Chunk(number, b"", InputError(
            f"{where}: skipped: too large ({size / MIB:.1f} MiB, "
            f"limit {limits.message_bytes // MIB} MiB)"))
    if longest > limits.line_bytes:
        return Chunk(number, b"", InputError(
            f"{where}: skipped: too large (a line of {longest / MIB:.1f} MiB, "
            f"limit {limits.line_bytes / MIB:g} MiB)"))
    return Chunk(number, b"".join(lines))


def chunks(stream: BinaryIO, name: str, limits: Limits) -> Iterator[Chunk]:
    """Yield the messages of a stream one by one; an over-limit message yields its error."""
    lines: list[bytes] = []
    size = longest = 0
    number = 1
    pending: bytes | None = None
    for line in stream:
        if pending is not None:
            if HEADER_RE.match(line) and (size or lines):
                yield _closed(number, lines, size, longest, limits, name)
                number += 1
                lines, size, longest = [], 0, 0
            line_list = [pending, line]
            pending = None
        elif MBOX_FROM_RE.match(line):
            pending = line
            continue
        else:
            line_list = [line]
        for item in line_list:
            size += len(item)
            longest = max(longest, len(item))
            if size <= limits.message_bytes:
                lines.append(item)
            elif lines:
                lines = []  # over the limit: keep counting, stop keeping
    if pending is not None:
        lines.append(pending)
        size += len(pending)
    if lines or size:
        yield _closed(number, lines, size, longest, limits, name)


@contextmanager
def deadline(seconds: float, what: str) -> Iterator[None]:
    """Raise InputTimeout in this (main) thread if the block runs longer than ``seconds``."""
    if seconds <= 0 or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise InputTimeout(f"{what}: skipped: too slow (over {seconds:g} s)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
