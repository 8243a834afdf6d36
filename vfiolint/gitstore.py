"""Git plumbing shared by the inputs and the repository index: read objects, never write them.

Every command reads git objects (``cat-file``, ``ls-tree``, ``diff-tree``, ``rev-parse``):
no checkout, no change to the work tree, the index or a ref, and a bare repository works.
Revisions are passed after ``--end-of-options`` and never through a shell, so a value starting
with ``-`` cannot become an option.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import threading
from pathlib import Path

from vfiolint.errors import GitError

__all__ = ["EMPTY_TREE", "ZERO_OID", "BlobReader", "GitError", "blob_id", "check_revision",
           "commit_of", "diff_trees", "git", "git_message", "list_tree", "staged_changes",
           "tree_of", "worktree_changes"]

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
ZERO_OID = "0" * 40
# git must never take an optional lock (``git status`` would rewrite the index otherwise).
GIT_ENV = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}


def git(repo: Path, *args: str, data: bytes | None = None) -> bytes:
    """Run one git command in ``repo`` and return its output; failures raise GitError."""
    try:
        proc = subprocess.run(
            ["git", "-C", str(repo), *args], input=data, capture_output=True, check=False,
            env=GIT_ENV,
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


def blob_id(data: bytes) -> str:
    """Return the git object id a text would have as a blob (for files not in git)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


class BlobReader:
    """One ``git cat-file --batch`` process answering ``<rev>:<path>`` or object id requests."""

    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self.proc = subprocess.Popen(
            ["git", "-C", str(repo), "cat-file", "--batch"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=GIT_ENV,
        )

    def read(self, spec: str) -> bytes | None:
        """Return an object's bytes, or None if it does not exist."""
        return self.read_many([spec])[0]

    def read_many(self, specs: list[str]) -> list[bytes | None]:
        """Return several objects' bytes, asking for all of them while the answers are read."""
        return [data for _, data in self.read_typed(specs)]

    def read_typed(self, specs: list[str]) -> list[tuple[str, bytes | None]]:
        """Return (object id, bytes) of several objects ("", None for a missing one).

        The questions are written by a thread of their own: written before any answer is
        read, those of a commit touching a thousand files fill the request pipe while git
        waits for room in the answer pipe, and neither side moves again."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        asked = [s for s in specs if "\n" not in s]
        questions = b"".join(s.encode("utf-8", "surrogateescape") + b"\n" for s in asked)
        if len(questions) < 1 << 14:  # fits a pipe: no thread needed
            self._ask(questions)
            return self._answers(specs, asked)
        writer = threading.Thread(target=self._ask, daemon=True, args=(questions,))
        writer.start()
        answers = self._answers(specs, asked)
        writer.join()
        return answers

    def _ask(self, questions: bytes) -> None:
        """Write requests to git (a git that went away is noticed by the reader)."""
        assert self.proc.stdin is not None
        with contextlib.suppress(BrokenPipeError, ValueError):
            self.proc.stdin.write(questions)
            self.proc.stdin.flush()

    def _answers(self, specs: list[str], asked: list[str]) -> list[tuple[str, bytes | None]]:
        """Read git's answers to the requests, in order."""
        assert self.proc.stdout is not None
        answers: dict[str, tuple[str, bytes | None]] = {}
        for spec in asked:
            header = self.proc.stdout.readline().split()
            if len(header) != 3:
                answers[spec] = ("", None)
                continue
            answers[spec] = (header[0].decode(), self.proc.stdout.read(int(header[2])))
            self.proc.stdout.read(1)
        return [answers.get(s, ("", None)) for s in specs]

    def close(self) -> None:
        """Stop the process (its answers first: a git still answering gets EPIPE and ends,
        which frees a request writer it was keeping waiting)."""
        if self.proc.stdout:
            self.proc.stdout.close()
        if self.proc.stdin:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()
        self.proc.wait()

    def __enter__(self) -> BlobReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _decode_path(raw: bytes) -> str:
    """Decode a path as git printed it with ``-z`` (verbatim bytes)."""
    return raw.decode("utf-8", "surrogateescape")


def tree_of(repo: Path, revision: str) -> str:
    """Return the tree id of a revision (a commit, a tag or a tree)."""
    check_revision(revision)
    out = git(repo, "rev-parse", "--verify", "--end-of-options", f"{revision}^{{tree}}")
    return out.decode().strip()


def commit_of(repo: Path, revision: str) -> str:
    """Return the commit id a revision names."""
    check_revision(revision)
    out = git(repo, "rev-parse", "--verify", "--end-of-options", f"{revision}^{{commit}}")
    return out.decode().strip()


def list_tree(repo: Path, tree: str, keep: tuple[str, ...]) -> dict[str, str]:
    """Return path -> blob id for the regular files of a tree whose names end with ``keep``
    (symbolic links and submodules are left out)."""
    out = git(repo, "ls-tree", "-r", "-z", "--full-tree", "--end-of-options", tree)
    files: dict[str, str] = {}
    for entry in out.split(b"\0"):
        if not entry:
            continue
        meta, _, raw = entry.partition(b"\t")
        mode, kind, oid = meta.split()
        path = _decode_path(raw)
        if kind == b"blob" and mode != b"120000" and path.endswith(keep):
            files[path] = oid.decode()
    return files


def diff_trees(repo: Path, old: str, new: str, keep: tuple[str, ...],
               pathspecs: tuple[str, ...] = ()) -> dict[str, str | None]:
    """Return path -> new blob id (None when deleted) for the files two trees hold apart."""
    out = git(repo, "diff-tree", "-r", "-z", "--no-renames", "--no-ext-diff", "--raw",
              "--end-of-options", old, new, "--", *pathspecs)
    return _raw_changes(out, keep)


def _raw_changes(out: bytes, keep: tuple[str, ...]) -> dict[str, str | None]:
    """Read ``--raw -z`` output into path -> new blob id (None when deleted)."""
    changes: dict[str, str | None] = {}
    fields = out.split(b"\0")
    i = 0
    while i + 1 < len(fields):
        meta, raw = fields[i], fields[i + 1]
        i += 2
        if not meta.startswith(b":"):
            continue
        parts = meta[1:].split()
        dst_mode, dst = parts[1], parts[3].decode()
        path = _decode_path(raw)
        if not path.endswith(keep) or dst_mode in (b"120000", b"160000"):
            continue
        changes[path] = None if dst_mode == b"000000" else dst
    return changes


def staged_changes(repo: Path, base: str, keep: tuple[str, ...]) -> dict[str, str | None]:
    """Return path -> blob id in the index (None when removed) for the files staged against
    ``base``, without writing a tree."""
    out = git(repo, "diff-index", "--cached", "-z", "--no-renames", "--raw",
              "--end-of-options", base, "--")
    return _raw_changes(out, keep)


def worktree_changes(repo: Path, keep: tuple[str, ...]) -> list[str]:
    """Return the paths of the work tree's files that differ from HEAD (modified, added,
    untracked), relative to the top of the work tree; no lock is taken, nothing is written."""
    out = git(repo, "--no-optional-locks", "status", "--porcelain=v1", "-z", "--no-renames",
              "--untracked-files=all", "--ignore-submodules")
    paths = []
    for entry in out.split(b"\0"):
        if len(entry) > 3:
            path = _decode_path(entry[3:])
            if path.endswith(keep):
                paths.append(path)
    return paths
