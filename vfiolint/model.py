"""The patch model, in the mailing-list vocabulary: Patch, Trailer, FileDiff, Hunk, Line.

Every value is frozen, holds tuples, and is built whole by one parser call.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

C_SUFFIXES = (".c", ".h", ".inc")


def is_c_path(path: str) -> bool:
    """Tell whether a path names C source or a header."""
    return path.endswith(C_SUFFIXES)


class LineKind(StrEnum):
    """What a diff line does to the file."""

    CONTEXT = " "
    ADDED = "+"
    REMOVED = "-"


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a hunk, with its 1-based numbers in the pre-image (old) and post-image (new)."""

    kind: LineKind
    text: str
    old: int | None
    new: int | None


@dataclass(frozen=True, slots=True)
class Hunk:
    """One ``@@`` hunk; ``section`` is the function context git printed after the header."""

    old_start: int
    old_len: int
    new_start: int
    new_len: int
    section: str
    lines: tuple[Line, ...]


@dataclass(frozen=True, slots=True)
class FileDiff:
    """The change to one file. ``old_path`` is None for an added file, ``new_path`` for a deleted one."""

    old_path: str | None
    new_path: str | None
    hunks: tuple[Hunk, ...]
    binary: bool = False
    # the blob ids of git's ``index <old>..<new>`` line (abbreviated as sent), when it has one
    old_blob: str | None = None
    new_blob: str | None = None

    @property
    def path(self) -> str:
        """Name the file as a reviewer knows it: the post-image path, else the pre-image one."""
        return self.new_path or self.old_path or "?"


@dataclass(frozen=True, slots=True)
class Trailer:
    """A ``Name: value`` line at the end of a commit message."""

    name: str
    value: str
    kind: str  # person | utility | unknown


@dataclass(frozen=True, slots=True)
class Patch:
    """One patch as it arrived: a mail, a commit, or a diff found quoted inside a reply.

    ``index`` is the patch's order in its input; ``quote_depth`` the number of ``>`` levels the diff
    was found under (0 for a patch as sent).
    """

    input: str
    index: int
    msgid: str | None
    subject: str | None
    prefixes: tuple[str, ...]
    revision: int
    revision_inferred: bool
    counter: int | None
    expected: int | None
    author: str | None
    date: str | None
    trailers: tuple[Trailer, ...]
    message: str
    files: tuple[FileDiff, ...]
    commit: str | None = None
    quote_depth: int = 0
    references: tuple[str, ...] = ()  # the Message-IDs it replies under, oldest first
    recipients: tuple[str, ...] = ()  # its To and Cc addresses
    # the ``base-commit:`` the series was made on (git format-patch --base, b4), when sent
    base: str | None = None

    @property
    def label(self) -> str:
        """Name the patch in one line: its subject, else its commit, else its input."""
        return self.subject or (self.commit[:12] if self.commit else None) or self.input
