"""Inputs, detected by content rather than by name: mail-like text with diffs, C source, directories."""

from __future__ import annotations

import io
import logging
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from vfiolint.errors import InputError
from vfiolint.inputs.mail import (
    Repeats,
    base_commit,
    decode_text,
    find_header_start,
    read_message,
)
from vfiolint.inputs.stream import Chunk, chunks
from vfiolint.limits import Limits
from vfiolint.model import Patch

if TYPE_CHECKING:
    from vfiolint.inputs.images import SourceUnit

log = logging.getLogger(__name__)

DEFAULT_LIMITS = Limits()
BLOCK = 1 << 16  # read buffer of an input
SUFFIXES = (".patch", ".diff", ".mbox", ".mbx", ".eml", ".mail", ".msg", ".txt", ".c", ".h")
C_LINE_RE = re.compile(r"^\s*(#\s*(include|define|if|ifdef|ifndef|endif)\b|.*[;{}]\s*$)")
MAIL_HINT_RE = re.compile(r"^(>|\[.*\b(PATCH|RFC)\b|Re: |On .* wrote:$|More information about)")


@dataclass(frozen=True, slots=True)
class Loaded:
    """What one input holds: patches (mail-like text) or one source file, and its errors."""

    input: str
    patches: tuple[Patch, ...] = ()
    source: SourceUnit | None = None
    errors: tuple[InputError, ...] = ()


@dataclass(frozen=True, slots=True)
class Entry:
    """One input to read: a name from the command line or a file found in a directory."""

    name: str
    named: bool  # given by the user, not found in a directory
    skip: str | None = None  # why a directory entry is not read (a named pipe, a device)


SPECIAL_KINDS = (
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _walk(root: Path) -> Iterator[Entry]:
    """Yield the inputs a directory holds, sorted, hidden entries and other names left out.

    Only regular files are read: a named pipe or a device found there would block or never
    end, so each is one error (naming one on the command line reads it)."""
    for path in sorted(root.rglob("*"), key=str):
        if not path.name.endswith(SUFFIXES) or any(
                part.startswith(".") for part in path.relative_to(root).parts):
            continue
        try:
            mode = path.stat().st_mode
        except OSError:
            continue  # a dangling link, or an entry gone since the listing
        if stat.S_ISREG(mode):
            yield Entry(str(path), False)
            continue
        kind = next((what for test, what in SPECIAL_KINDS if test(mode)), None)
        if kind is not None:
            yield Entry(str(path), False, f"{path}: skipped: {kind}, not a regular file")


def expand(names: list[str]) -> list[Entry]:
    """Replace each directory by the inputs it holds (sorted, hidden entries skipped).

    Each entry says whether the user named it: a file found in a directory that turns out to
    be neither mail nor C (a README, build options) is skipped, not an error."""
    out: list[Entry] = []
    for name in names:
        path = Path(name)
        if name != "-" and path.is_dir():
            out += _walk(path)
        else:
            out.append(Entry(name, True))
    return out


@lru_cache(maxsize=8)  # an input with no patch is asked twice: when read, and when judged
def looks_like_mail(text: str) -> bool:
    """Tell whether text is a message or an archive page, even one without a diff."""
    lines = text.splitlines()
    if find_header_start(lines) is not None:
        return True
    hints = sum(1 for x in lines[:400] if MAIL_HINT_RE.match(x))
    return hints >= 3 or bool(lines and MAIL_HINT_RE.match(lines[0].strip()))


def looks_like_c(text: str, name: str) -> bool:
    """Tell whether text reads as C source: most code lines (comments aside) end like C.

    A ``.c``/``.h`` name settles a file whose code is mostly macros or declarations."""
    from vfiolint.c.lexer import blank_comments  # the C model is loaded for C input only

    code = blank_comments(text.encode("utf-8", "surrogateescape")).decode("utf-8",
                                                                          "surrogateescape")
    lines = [x for x in code.splitlines() if x.strip()]
    c_lines = sum(1 for x in lines if C_LINE_RE.match(x))
    if name.endswith((".c", ".h")) and (c_lines or not lines):
        return True
    return c_lines >= 1 and c_lines * 4 >= len(lines)


def _is_binary(data: bytes) -> bool:
    """Tell whether bytes are binary rather than text (UTF-16 text has NULs too)."""
    head = data[:8192]
    return b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff"))


def classify(name: str, data: bytes, named: bool) -> Loaded:
    """Judge an input in which no patch was found: a C file, a discussion, or bad input."""
    if _is_binary(data):
        if not named:
            log.info("%s: binary data; skipped", name)
            return Loaded(name)
        return Loaded(name, errors=(InputError(f"{name}: binary data, not a patch, mail or C source"),))
    text = decode_text(data)
    if looks_like_mail(text):
        return Loaded(name)
    if looks_like_c(text, name):
        from vfiolint.inputs.images import file_unit

        return Loaded(name, source=file_unit(name, data))
    if not named:
        log.info("%s: not a patch, mail or C source; skipped", name)
        return Loaded(name)
    if not text.strip():
        return Loaded(name, errors=(InputError(f"{name}: empty input"),))
    return Loaded(name, errors=(InputError(f"{name}: not a patch, mail or C source"),))


class InputReader:
    """The state of reading one input message by message: repeats seen, and what is needed
    to judge an input in which no patch turns up (its first message)."""

    def __init__(self, name: str, named: bool, limits: Limits) -> None:
        self.name, self.named, self.limits = name, named, limits
        self.repeats = Repeats()
        self.first: bytes | None = None
        self.count = 0
        self.found = False
        self.mail = False
        self.bodies: set[int] = set()
        self.base: str | None = None

    def _resent(self, data: bytes) -> bool:
        """Tell whether a message's body is byte for byte one already read (a resend)."""
        cut = data.find(b"\n\n")
        if cut < 0 or len(data) - cut < 64:
            return False
        # Only compared within this run: the built-in 64-bit hash serves, no digest needed.
        digest = hash(data[cut:])
        if digest in self.bodies:
            return True
        self.bodies.add(digest)
        return False

    def read(self, chunk: Chunk) -> Loaded:
        """Read one message into its new patches, or its error."""
        self.count += 1
        if chunk.error is not None:
            self.found = True
            return Loaded(self.name, errors=(chunk.error,))
        if self.first is None:
            self.first = chunk.data
        if _is_binary(chunk.data):
            return Loaded(self.name)
        if self._resent(chunk.data):
            self.found = True
            log.info("%s: message %d resends an earlier body; skipped", self.name, chunk.number)
            return Loaded(self.name)
        text = decode_text(chunk.data)
        try:
            patches = read_message(text, self.name, self.limits.hunks)
        except InputError as exc:
            self.found = True
            where = f"message {chunk.number}: " if chunk.number > 1 else ""
            message = str(exc).removeprefix(f"{self.name}: ")
            return Loaded(self.name, errors=(InputError(f"{self.name}: {where}{message}"),))
        if patches:
            self.found = True
        elif self.count > 1 or looks_like_mail(text):
            self.mail = True
        if not patches and "base-commit:" in text:  # a cover letter names the base
            self.base = base_commit(text.splitlines()) or self.base
        elif self.base is not None:
            patches = [p if p.base else replace(p, base=self.base) for p in patches]
        return Loaded(self.name, tuple(k for p in patches if (k := self.repeats.admit(p))))

    def finish(self) -> Loaded | None:
        """Judge an input in which no patch was found (a C file, a discussion, bad input)."""
        if self.found or self.mail:
            return None
        return classify(self.name, self.first or b"", self.named)


def load_stream(name: str, stream: BinaryIO, named: bool = True,
                limits: Limits = DEFAULT_LIMITS) -> Iterator[Loaded]:
    """Read an input message by message, yielding the new patches (and errors) of each."""
    reader = InputReader(name, named, limits)
    for chunk in chunks(stream, name, limits):
        yield reader.read(chunk)
    final = reader.finish()
    if final is not None:
        yield final


def open_input(name: str) -> BinaryIO:
    """Open an input for streaming; ``-`` is standard input.

    A named pipe blocks here until a writer opens it: the caller bounds the wait."""
    try:
        if name == "-":  # descriptor 0 itself: sys.stdin may have been replaced
            return open(0, "rb", buffering=BLOCK, closefd=False)
        return Path(name).open("rb", buffering=BLOCK)
    except OSError as exc:
        raise InputError(f"{name}: cannot read: {exc.strerror or exc}") from exc


def load(name: str, data: bytes, named: bool = True, limits: Limits = DEFAULT_LIMITS) -> Loaded:
    """Read one input's bytes whole into its patches or source unit, and its errors."""
    parts = list(load_stream(name, io.BytesIO(data), named, limits))
    return Loaded(
        name,
        tuple(p for part in parts for p in part.patches),
        next((part.source for part in parts if part.source is not None), None),
        tuple(e for part in parts for e in part.errors),
    )
