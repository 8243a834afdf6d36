"""Patches from git: every non-merge commit of a range, or the staged change, with whole files.

Everything is read from git objects (``git cat-file --batch``): no checkout, no change to the
work tree or the index, and a bare repository works. Revisions are passed after
``--end-of-options`` and never through a shell, so a value starting with ``-`` cannot become
an option.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from vfiolint.errors import GitError
from vfiolint.inputs import diff
from vfiolint.inputs.images import UnitPair, file_pair, is_c_path
from vfiolint.inputs.mail import parse_subject, parse_trailers
from vfiolint.model import FileDiff, Patch

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
DIFF_OPTIONS = ("--no-color", "--no-ext-diff", "--no-textconv", "-M", "-U3", "--full-index")
FIELD = "\x1f"
RECORD = "\x1e"


def git(repo: Path, *args: str, data: bytes | None = None) -> bytes:
    """Run one git command in ``repo`` and return its output; failures raise GitError."""
    try:
        proc = subprocess.run(
            ["git", "-C", str(repo), *args], input=data, capture_output=True, check=False,
        )
    except OSError as exc:
        raise GitError(f"git: cannot run: {exc.strerror or exc}") from exc
    if proc.returncode != 0:
        raise GitError(f"git {args[0]}: {git_message(proc.stderr)}")
    return proc.stdout


def git_message(stderr: bytes) -> str:
    """Pick the line of git's standard error that says what went wrong."""
    lines = [x.strip() for x in stderr.decode("utf-8", "replace").splitlines() if x.strip()]
    return next((x for x in lines if x.startswith(("fatal:", "error:"))),
                lines[0] if lines else "failed")


def check_revision(value: str) -> str:
    """Refuse a revision that could be read as an option."""
    if not value or value.startswith("-"):
        raise GitError(f"invalid revision or range '{value}'")
    return value


class BlobReader:
    """One ``git cat-file --batch`` process answering ``<rev>:<path>`` requests."""

    def __init__(self, repo: Path) -> None:
        self.proc = subprocess.Popen(
            ["git", "-C", str(repo), "cat-file", "--batch"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )

    def read(self, spec: str) -> bytes | None:
        """Return an object's bytes, or None if it does not exist."""
        return self.read_many([spec])[0]

    def read_many(self, specs: list[str]) -> list[bytes | None]:
        """Return several objects' bytes, asking for all of them before reading any answer."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        asked = [s for s in specs if "\n" not in s]
        self.proc.stdin.write(b"".join(s.encode("utf-8", "surrogateescape") + b"\n"
                                       for s in asked))
        self.proc.stdin.flush()
        answers: dict[str, bytes | None] = {}
        for spec in asked:
            header = self.proc.stdout.readline().split()
            if len(header) != 3:
                answers[spec] = None
                continue
            answers[spec] = self.proc.stdout.read(int(header[2]))
            self.proc.stdout.read(1)
        return [answers.get(s) for s in specs]

    def close(self) -> None:
        """Stop the process."""
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait()

    def __enter__(self) -> BlobReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class GitPatch:
    """A patch read from git, with the whole-file images of its C files."""

    patch: Patch
    pairs: tuple[UnitPair, ...]


def commits(repo: Path, revision_range: str) -> list[str]:
    """List the non-merge commits of a range (``A..B``, ``^A B``), oldest first; a single
    revision names one commit."""
    check_revision(revision_range)
    words = revision_range.split()
    if len(words) == 1 and ".." not in revision_range:
        out = git(repo, "rev-parse", "--verify", "--end-of-options", f"{revision_range}^{{commit}}")
        return [out.decode().strip()]
    for word in words:
        check_revision(word.lstrip("^") or "-")
    out = git(repo, "rev-list", "--no-merges", "--reverse", "--end-of-options", *words, "--")
    return out.decode().split()


def _pairs(reader: BlobReader, files: tuple[FileDiff, ...], old_rev: str,
           new_rev: str) -> tuple[UnitPair, ...]:
    """Read both whole images of every C file a diff touches (``new_rev`` "" is the index)."""
    wanted = [f for f in files if is_c_path(f.path) and f.hunks]
    # Only the sides a file has are asked for (an added file has no pre-image): every answer
    # is paired with its own request, never by position in a list with gaps.
    specs = sorted({spec for f in wanted for spec in (
        f"{old_rev}:{f.old_path}" if f.old_path else None,
        f"{new_rev}:{f.new_path}" if f.new_path else None) if spec is not None})
    blobs = dict(zip(specs, reader.read_many(specs), strict=True))
    return tuple(file_pair(f, blobs.get(f"{old_rev}:{f.old_path}") if f.old_path else None,
                           blobs.get(f"{new_rev}:{f.new_path}") if f.new_path else None)
                 for f in wanted)


def _diff_files(text: bytes) -> tuple[FileDiff, ...]:
    """Parse the C files' part of git's own diff output (other files are never analysed)."""
    return diff.parse(c_sections(text.decode("utf-8", "surrogateescape")))


def c_sections(text: str) -> str:
    """Keep the ``diff --git`` sections of C sources and headers."""
    parts = re.split(r"(?m)^(?=diff --git )", text)
    return "".join(p for p in parts if p.startswith("diff --git ") and is_c_path(
        p.split("\n", 1)[0].rsplit(" ", 1)[-1].removeprefix("b/")))


START = "\x1e\x1evfiolint-commit "
END = "\x1e\x1evfiolint-message-end"
LOG_FORMAT = f"{START}%H{FIELD}%P{FIELD}%an <%ae>{FIELD}%aD{FIELD}%s{FIELD}%B{END}"
START_B, END_B = START.encode(), END.encode()


@dataclass(frozen=True, slots=True)
class LoggedCommit:
    """One commit as ``git log -p`` printed it: metadata and its diff against its parent."""

    commit: str
    parent: str
    author: str
    date: str
    subject: str
    message: str
    diff: str


def _logged(chunk: bytes) -> LoggedCommit:
    """Build a LoggedCommit from one commit's bytes of the log stream."""
    head, _, diff_text = chunk[len(START_B):].partition(END_B)
    text = head.decode("utf-8", "surrogateescape")
    commit, parents, author, date, subject, message = text.split(FIELD, 5)
    parent = parents.split()[0] if parents.split() else EMPTY_TREE
    return LoggedCommit(commit, parent, author, date, subject, message.strip(),
                        diff_text.lstrip(b"\n").decode("utf-8", "surrogateescape"))


@dataclass(frozen=True, slots=True)
class BrokenCommit:
    """A commit git could not show (a missing object, a corrupt pack)."""

    commit: str
    message: str


def _log_stream(repo: Path, args: list[str], stdin: bytes | None = None
                ) -> Iterator[LoggedCommit]:
    """Run one ``git log -p`` and yield its commits; a failing git raises GitError, after the
    commits it showed whole (the one it broke on is never yielded half)."""
    cmd = ["git", "-C", str(repo), "log", "--no-merges", "-p", *DIFF_OPTIONS,
           f"--format={LOG_FORMAT}", *args]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if stdin is not None else None,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    if stdin is not None and proc.stdin is not None:
        proc.stdin.write(stdin)
        proc.stdin.close()
    buffer = bytearray()
    boundary = b"\n" + START_B
    while block := proc.stdout.read(1 << 20):
        buffer += block
        cut = buffer.find(boundary, 1)
        while cut >= 0:
            yield _logged(bytes(buffer[:cut]))
            del buffer[: cut + 1]
            cut = buffer.find(boundary, 1)
    err = proc.stderr.read() if proc.stderr else b""
    if proc.wait() != 0:
        raise GitError(f"git log: {git_message(err)}")
    if buffer.startswith(START_B):
        yield _logged(bytes(buffer))


def log_range(repo: Path, revision_range: str) -> Iterator[LoggedCommit | BrokenCommit]:
    """Stream the non-merge commits of a range, oldest first, from one ``git log -p``.

    If git breaks on a commit (a missing object), that commit becomes a BrokenCommit and a
    new stream goes on with the commits after it: one broken commit hides nothing else."""
    words = revision_range.split()
    for word in words:
        check_revision(word.lstrip("^") or "-")
    limit = ["--max-count=1"] if len(words) == 1 and ".." not in revision_range else []
    shown = 0
    try:
        for item in _log_stream(repo, ["--reverse", *limit, "--end-of-options", *words, "--"]):
            shown += 1
            yield item
        return
    except GitError as exc:
        failure = exc
    remaining = commits(repo, revision_range)[shown:]
    while remaining:
        yield BrokenCommit(remaining[0], f"{remaining[0][:12]}: {failure}")
        remaining = remaining[1:]
        feed = "".join(f"{c}\n" for c in remaining).encode()
        try:
            for item in _log_stream(repo, ["--no-walk=unsorted", "--stdin"], feed):
                remaining = remaining[1:]
                yield item
            return
        except GitError as exc:
            failure = exc


def logged_patch(reader: BlobReader, logged: LoggedCommit, index: int,
                 input_name: str) -> GitPatch:
    """Turn one logged commit into a patch with whole-file images of its C files."""
    files = _diff_files(logged.diff.encode("utf-8", "surrogateescape"))
    prefixes, revision, inferred, counter, expected = parse_subject(logged.subject)
    patch = Patch(
        input=input_name, index=index, msgid=None, subject=logged.subject, prefixes=prefixes,
        revision=revision, revision_inferred=inferred, counter=counter, expected=expected,
        author=logged.author, date=logged.date, trailers=parse_trailers(logged.message),
        message=logged.message, files=files, commit=logged.commit,
    )
    return GitPatch(patch, _pairs(reader, files, logged.parent, logged.commit))


def count_range(repo: Path, revision_range: str) -> int:
    """Count the non-merge commits of a range (for the progress bar)."""
    words = revision_range.split()
    if len(words) == 1 and ".." not in revision_range:
        return 1
    out = git(repo, "rev-list", "--count", "--no-merges", "--end-of-options", *words, "--")
    return int(out.decode().strip() or 0)


def staged_patch(repo: Path, input_name: str) -> GitPatch | None:
    """Return the staged change against HEAD as a patch (None when nothing is staged)."""
    try:
        base = git(repo, "rev-parse", "--verify", "-q", "HEAD").decode().strip()
    except GitError:
        base = EMPTY_TREE
    raw = git(repo, "diff", "--cached", *DIFF_OPTIONS, base, "--")
    if not raw.strip():
        return None
    files = _diff_files(raw)
    patch = Patch(
        input=input_name, index=0, msgid=None, subject="staged changes", prefixes=(),
        revision=1, revision_inferred=True, counter=None, expected=None, author=None,
        date=None, trailers=(), message="", files=files,
    )
    with BlobReader(repo) as reader:
        return GitPatch(patch, _pairs(reader, files, base, ""))
