"""Patches from git: every non-merge commit of a range, or the staged change, with whole files.

Everything is read from git objects (``git cat-file --batch``): no checkout, no change to the
work tree or the index, and a bare repository works. Revisions are passed after
``--end-of-options`` and never through a shell, so a value starting with ``-`` cannot become
an option.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from vfiolint import diff
from vfiolint.errors import GitError
from vfiolint.inputs.mail import parse_subject, parse_trailers
from vfiolint.model import FileDiff, Patch
from vfiolint.source import UnitPair, file_pair, is_c_path

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
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"git {args[0]}: {message[-1] if message else 'failed'}")
    return proc.stdout


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
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if "\n" in spec:
            return None
        self.proc.stdin.write(spec.encode("utf-8", "surrogateescape") + b"\n")
        self.proc.stdin.flush()
        header = self.proc.stdout.readline().split()
        if len(header) != 3:
            return None
        size = int(header[2])
        body = self.proc.stdout.read(size)
        self.proc.stdout.read(1)
        return body

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
    out = git(repo, "rev-list", "--no-merges", "--reverse", "--end-of-options", *words)
    return out.decode().split()


def _metadata(repo: Path, commit: str) -> tuple[str, str, str, str, str]:
    """Return subject, author, date, message and the first parent (or the empty tree)."""
    fmt = FIELD.join(["%s", "%an <%ae>", "%aD", "%B", "%P"]) + RECORD
    out = git(repo, "show", "-s", f"--format={fmt}", "--end-of-options", commit)
    subject, author, date, message, parents = out.decode("utf-8", "replace").split(RECORD)[
        0].split(FIELD)
    parent = parents.split()[0] if parents.split() else EMPTY_TREE
    return subject, author, date, message.strip(), parent


def _pairs(reader: BlobReader, files: tuple[FileDiff, ...], old_rev: str,
           new_rev: str) -> tuple[UnitPair, ...]:
    """Read both whole images of every C file a diff touches (``new_rev`` "" is the index)."""
    pairs = []
    for filediff in files:
        if not is_c_path(filediff.path) or not filediff.hunks:
            continue
        old, new = filediff.old_path, filediff.new_path
        pre = reader.read(f"{old_rev}:{old}") if old else None
        post = reader.read(f"{new_rev}:{new}") if new else None
        pairs.append(file_pair(filediff, pre, post))
    return tuple(pairs)


def _diff_files(text: bytes) -> tuple[FileDiff, ...]:
    """Parse git's own diff output."""
    return diff.parse(text.decode("utf-8", "surrogateescape"))


def commit_patch(repo: Path, reader: BlobReader, commit: str, index: int,
                 input_name: str) -> GitPatch:
    """Read one commit as a patch with whole-file images, diffed against its first parent."""
    subject, author, date, message, parent = _metadata(repo, commit)
    raw = git(repo, "diff", *DIFF_OPTIONS, parent, commit, "--")
    files = _diff_files(raw)
    prefixes, revision, inferred, counter, expected = parse_subject(subject)
    patch = Patch(
        input=input_name, index=index, msgid=None, subject=subject, prefixes=prefixes,
        revision=revision, revision_inferred=inferred, counter=counter, expected=expected,
        author=author, date=date, trailers=parse_trailers(message), message=message,
        files=files, commit=commit,
    )
    return GitPatch(patch, _pairs(reader, files, parent, commit))


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
