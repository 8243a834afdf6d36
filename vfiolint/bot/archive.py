"""Where list mail comes from, read from where the last run stopped.

- A public-inbox archive, as lore and other list archives serve it: a v2 inbox directory
  (``git/0.git``, ``git/1.git``, …, one epoch each) or a single epoch repository. Each commit
  of an epoch holds one message, the blob ``m`` (a removal commit holds ``d`` instead). The
  position in each epoch is the last commit read; if the archive was rewritten (a message
  purged) and that commit is no longer an ancestor, the epoch is read again from the start and
  the messages already seen are skipped by their blob id.
- A Maildir: ``new/`` and ``cur/``, oldest first; a message is known by its unique name.
- An mbox on standard input.

A reader yields ``Arrival`` values; ``seen`` lets it skip a message the state already holds
before reading its bytes.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import parseaddr, parsedate_to_datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from vfiolint.errors import GitError, InputError
from vfiolint.gitstore import BlobReader, git, git_message
from vfiolint.inputs.stream import chunks
from vfiolint.limits import Limits

log = logging.getLogger(__name__)

BATCH = 256  # blobs asked of one git cat-file at a time
ZERO = "0" * 40

Seen = Callable[[str], bool]


@dataclass(frozen=True, slots=True)
class Arrival:
    """One message of an archive: its key (unique in the archive), its bytes (None when the
    state already holds it), and the position to record once it is stored."""

    key: str
    data: bytes | None
    cursor: tuple[str, str] | None = None


class Archive(Protocol):
    """A source of list mail."""

    @property
    def name(self) -> str:
        """Name the archive (positions are recorded under this name)."""

    def arrivals(self, cursors: Mapping[str, str], seen: Seen) -> Iterator[Arrival]:
        """Yield every message after the recorded positions, oldest first."""

    def ends(self) -> dict[str, str]:
        """Return the current position of each part (for a first run that skips history)."""


def is_git_dir(path: Path) -> bool:
    """Tell whether a directory is a git repository (bare, or a work tree with .git)."""
    return ((path / "HEAD").is_file() and (path / "objects").is_dir()) or (path / ".git").exists()


def epochs_of(path: Path) -> list[tuple[str, Path]]:
    """Return the epochs of a public-inbox archive, oldest first, each with its name."""
    if is_git_dir(path):
        return [(".", path)]
    folder = path / "git"
    if not folder.is_dir():
        raise InputError(f"{path}: not a public-inbox archive (no git/N.git), "
                         "an epoch repository or a Maildir")
    found = []
    for entry in folder.iterdir():
        number = entry.name.removesuffix(".git")
        if entry.name.endswith(".git") and number.isdigit() and is_git_dir(entry):
            found.append((int(number), f"git/{entry.name}", entry))
    if not found:
        raise InputError(f"{path}: no epoch repository in {folder}")
    return [(name, p) for _, name, p in sorted(found)]


def _head(repo: Path) -> str | None:
    """Return the commit an epoch's HEAD names, or None for an empty repository."""
    proc = subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", "-q", "HEAD^{commit}"],
                          capture_output=True, check=False)
    if proc.returncode != 0:
        return None
    return proc.stdout.decode().strip() or None


def _is_ancestor(repo: Path, commit: str, head: str) -> bool:
    """Tell whether ``commit`` is still in the history of ``head``."""
    proc = subprocess.run(["git", "-C", str(repo), "merge-base", "--is-ancestor", commit, head],
                          capture_output=True, check=False)
    return proc.returncode == 0


def _message_blobs(repo: Path, since: str | None, head: str) -> Iterator[tuple[str, str]]:
    """Yield (commit, blob of ``m``) for every commit after ``since`` up to ``head``, oldest
    first; removal commits (no new ``m``) yield nothing."""
    span = f"{since}..{head}" if since else head
    proc = subprocess.Popen(
        ["git", "-C", str(repo), "log", "--reverse", "--first-parent", "--root", "--raw",
         "--no-abbrev", "--no-renames", "--format=%H", span, "--"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    commit = None
    for raw in proc.stdout:
        line = raw.decode("utf-8", "replace").rstrip("\n")
        if not line:
            continue
        if not line.startswith(":"):
            commit = line.strip()
            continue
        meta, _, path = line.partition("\t")
        fields = meta.split()
        if path == "m" and len(fields) == 5 and fields[4] in {"A", "M"} and commit:
            yield commit, fields[3]
    error = proc.stderr.read()
    if proc.wait() != 0:
        raise GitError(f"{repo}: git log: {git_message(error)}")


@dataclass(frozen=True, slots=True)
class PublicInbox:
    """A public-inbox archive (v2 inbox directory or one epoch repository)."""

    path: Path

    @property
    def name(self) -> str:
        """Name the archive by its absolute path."""
        return str(self.path.resolve())

    def ends(self) -> dict[str, str]:
        """Return each epoch's current commit."""
        return {name: head for name, repo in epochs_of(self.path)
                if (head := _head(repo)) is not None}

    def arrivals(self, cursors: Mapping[str, str], seen: Seen) -> Iterator[Arrival]:
        """Yield the messages of every epoch after its recorded commit."""
        for name, repo in epochs_of(self.path):
            head = _head(repo)
            if head is None or cursors.get(name) == head:
                continue
            since = cursors.get(name)
            if since is not None and not _is_ancestor(repo, since, head):
                log.warning("%s: %s was rewritten; reading it again (seen messages are "
                            "skipped)", self.path, name)
                since = None
            yield from self._epoch(name, repo, since, head, seen)

    def _epoch(self, name: str, repo: Path, since: str | None, head: str,
               seen: Seen) -> Iterator[Arrival]:
        """Yield one epoch's new messages, reading their blobs in batches."""
        with BlobReader(repo) as reader:
            batch: list[tuple[str, str]] = []
            for item in _message_blobs(repo, since, head):
                batch.append(item)
                if len(batch) >= BATCH:
                    yield from _read_batch(reader, name, batch, seen)
                    batch = []
            yield from _read_batch(reader, name, batch, seen)


def _read_batch(reader: BlobReader, name: str, batch: list[tuple[str, str]],
                seen: Seen) -> Iterator[Arrival]:
    """Read the unseen blobs of a batch of commits and yield them in order."""
    wanted = [blob for _, blob in batch if not seen(f"pi:{blob}")]
    data = dict(zip(wanted, reader.read_many(wanted), strict=True))
    for commit, blob in batch:
        yield Arrival(f"pi:{blob}", data.get(blob), (name, commit))


@dataclass(frozen=True, slots=True)
class Maildir:
    """A Maildir fed by a list subscription; its files are only read, never moved."""

    path: Path

    @property
    def name(self) -> str:
        """Name the Maildir by its absolute path."""
        return str(self.path.resolve())

    def ends(self) -> dict[str, str]:
        """A Maildir has no positions: what it holds is recorded as seen instead."""
        return {}

    def arrivals(self, cursors: Mapping[str, str], seen: Seen) -> Iterator[Arrival]:
        """Yield every message not seen yet, oldest first."""
        found = []
        for sub in ("new", "cur"):
            for entry in (self.path / sub).iterdir():
                if entry.is_file() and not entry.name.startswith("."):
                    try:
                        found.append((entry.stat().st_mtime, entry.name, entry))
                    except OSError:
                        continue  # moved between the listing and the stat: next run
        for _, filename, entry in sorted(found):
            key = f"md:{filename.split(':', 1)[0]}"
            if seen(key):
                continue
            try:
                yield Arrival(key, entry.read_bytes())
            except OSError as exc:
                log.warning("%s: cannot read: %s", entry, exc.strerror or exc)


def is_maildir(path: Path) -> bool:
    """Tell whether a directory is a Maildir."""
    return all((path / sub).is_dir() for sub in ("new", "cur"))


@dataclass(frozen=True, slots=True)
class MboxStream:
    """An mbox read from a stream (standard input); a message is known by its digest."""

    stream: BinaryIO
    name: str = "-"

    def ends(self) -> dict[str, str]:
        """A stream has no positions."""
        return {}

    def arrivals(self, cursors: Mapping[str, str], seen: Seen) -> Iterator[Arrival]:
        """Yield every message of the stream not seen yet."""
        for chunk in chunks(self.stream, "-", Limits()):
            if chunk.error is not None:
                log.warning("%s", chunk.error)
                continue
            key = "mbox:" + hashlib.sha256(chunk.data).hexdigest()[:32]
            if not seen(key):
                yield Arrival(key, chunk.data)


def open_archive(spec: str) -> Archive:
    """Open ``--archive``: ``-`` (an mbox on standard input), a Maildir, or public-inbox."""
    if spec == "-":
        return MboxStream(sys.stdin.buffer)
    path = Path(spec)
    if not path.is_dir():
        what = "not a directory" if path.exists() else "no such archive directory"
        raise InputError(f"{spec}: {what}")
    if is_maildir(path):
        return Maildir(path)
    epochs_of(path)  # a clear error now rather than at the first read
    return PublicInbox(path)


def _identity(header: str | None, fallback: str) -> str:
    """Return ``Name <address>`` for a commit, from a From header."""
    name, address = parseaddr(header or "")
    name = "".join(ch for ch in name if ch not in "<>\n") or address or fallback
    return f"{name} <{address or fallback}>"


def _timestamp(header: str | None, fallback: int) -> int:
    """Return a Date header as seconds since the epoch."""
    try:
        return int(parsedate_to_datetime(header or "").timestamp())
    except (TypeError, ValueError, IndexError, OverflowError):
        return fallback


def write_epoch(repo: Path, messages: Iterable[bytes], committer: str = "list archive "
                "<archive@example.org>") -> int:
    """Append messages to a public-inbox epoch (created bare if missing), one commit per
    message holding the blob ``m``, as public-inbox writes them; return how many were added.

    For building archives in tests, benchmarks and demonstrations."""
    if not repo.exists():
        repo.parent.mkdir(parents=True, exist_ok=True)
        git(repo.parent, "init", "-q", "--bare", str(repo.resolve()))
    parent = _head(repo)
    stream = bytearray()
    count = 0
    clock = 1_700_000_000
    for data in messages:
        count += 1
        head = BytesHeaderParser(policy=compat32).parsebytes(data)
        when = _timestamp(head.get("Date"), clock + count)
        subject = " ".join(str(head.get("Subject", "")).split()).encode("utf-8",
                                                                       "surrogateescape")
        author = _identity(head.get("From"), "unknown@example.org")
        stream += b"blob\nmark :%d\ndata %d\n" % (count, len(data)) + data + b"\n"
        stream += b"commit refs/heads/master\n"
        stream += f"author {author} {when} +0000\n".encode("utf-8", "surrogateescape")
        stream += f"committer {committer} {when} +0000\n".encode()
        stream += b"data %d\n" % len(subject) + subject + b"\n"
        if parent is not None and count == 1:
            stream += f"from {parent}\n".encode()
        stream += b"deleteall\nM 100644 :%d m\n\n" % count
    if count:
        git(repo, "fast-import", "--quiet", "--done", data=bytes(stream) + b"done\n")
        git(repo, "symbolic-ref", "HEAD", "refs/heads/master")
    return count
