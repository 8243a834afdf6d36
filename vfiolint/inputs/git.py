"""Patches from git: every non-merge commit of a range, or the staged change, with whole files.

Everything is read from git objects (``git cat-file --batch``): no checkout, no change to the
work tree or the index, and a bare repository works. Revisions are passed after
``--end-of-options`` and never through a shell, so a value starting with ``-`` cannot become
an option.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from vfiolint.coverage import FileCoverage
from vfiolint.errors import GitError
from vfiolint.gitstore import (
    EMPTY_TREE,
    BlobReader,
    check_revision,
    diff_trees,
    git,
    git_message,
    tree_of,
)
from vfiolint.inputs import diff
from vfiolint.inputs.context import Context
from vfiolint.inputs.images import NO_TREE, Tree, UnitPair, file_pair
from vfiolint.inputs.mail import parse_subject, parse_trailers
from vfiolint.inputs.trees import commit_trees, staged_trees
from vfiolint.model import FileDiff, Hunk, Patch, is_c_path
from vfiolint.rules.keywords import BlobKeywords

DIFF_OPTIONS = ("--no-color", "--no-ext-diff", "--no-textconv", "-M", "-U3", "--full-index")
FIELD = "\x1f"
RECORD = "\x1e"


@dataclass(frozen=True, slots=True)
class GitPatch:
    """A patch read from git, with the whole-file images of its C files."""

    patch: Patch
    pairs: tuple[PairOrSkip, ...]  # an image pair, or the coverage of a file no rule reads


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


PairOrSkip = tuple[UnitPair | None, FileCoverage | None]
HUNK_HEADS_RE = re.compile(diff.HUNK_RE.pattern, re.M)


def _blobs(reader: BlobReader, specs: list[str]) -> dict[str, bytes | None]:
    """Read some ``<rev>:<path>`` blobs in one batch."""
    asked = sorted(set(specs))
    return dict(zip(asked, reader.read_many(asked), strict=True))


def _lines(section: str, mark: str) -> bytes:
    """Return the lines a file diff removes (``mark`` "-": every line of the pre-image is one
    of these or a line of the post-image) or adds ("+")."""
    body = section.split("\n@@", 1)[1] if "\n@@" in section else ""
    return "\n".join(x[1:] for x in body.split("\n") if x.startswith(mark)).encode(
        "utf-8", "surrogateescape")


@dataclass(frozen=True)
class Wanted:
    """The keyword pre-filter of a commit's files: whether some rule can read a file, given
    the keyword parts it (with its path) holds, and the parts each blob holds."""

    holds: Callable[[str, Container[bytes]], bool]
    blobs: BlobKeywords


def _post_parts(wanted: Wanted, f: FileDiff, section: str) -> frozenset[bytes] | None:
    """Return the keyword parts a file's post-image may hold, known without reading it: kept
    for its blob, or those of the pre-image's blob and of the added lines (every line of the
    post-image is one or the other, and no part spans a line break). None: it must be read."""
    blobs = wanted.blobs
    known = blobs.get(f.new_blob)
    if known is not None:
        return known
    pre = frozenset[bytes]() if f.old_path is None and f.old_blob is None \
        else blobs.get(f.old_blob)
    if pre is None:
        return None
    found = pre | blobs.keywords.scan(_lines(section, "+"))
    blobs.put(f.new_blob, found)
    return found


def _pairs(reader: BlobReader, sections: list[str], old_rev: str, new_rev: str,
           trees: tuple[Tree, Tree] = (NO_TREE, NO_TREE), wanted: Wanted | None = None
           ) -> tuple[tuple[FileDiff, ...], tuple[PairOrSkip, ...]]:
    """Return the file diffs of a diff's C sections, and for each one with hunks its pair of
    whole images (``new_rev`` "" is the index) or, when no rule can read it, its coverage.

    ``wanted`` is the keyword pre-filter (None: every file is read). It is asked with the
    parts of the post-image and of the removed lines: every part of the pre-image is in one
    of them, so the pre-image is read, and the hunks' lines parsed, only for files some rule
    reads; the post-image is read only when the parts it holds are not known without it
    (``_post_parts``). Only the sides a file has are asked for (an added file has no
    pre-image), and every answer is paired with its own request, never by position in a list
    with gaps."""
    light = tuple(_light(s) for s in sections)
    section_of = {f.path: text for f, text in zip(light, sections, strict=True)}
    touched = [f for f in light if is_c_path(f.path) and f.hunks]
    known = {f.path: _post_parts(wanted, f, section_of[f.path]) if wanted else None
             for f in touched}
    read: list[FileDiff] = []
    skipped: dict[str, FileCoverage] = {}
    texts: dict[str, bytes | None] = {}
    if wanted is None:
        read = touched
    else:
        unknown = [f for f in touched if f.new_path and known[f.path] is None]
        texts = _blobs(reader, [f"{new_rev}:{f.new_path}" for f in unknown])
        scan = wanted.blobs.keywords.scan
        for f in touched:
            found = known[f.path]
            if found is None and f.new_path:
                text = texts.get(f"{new_rev}:{f.new_path}")
                found = wanted.blobs.scanned(f.new_blob, text) if text is not None else None
            found = (found or frozenset()) | scan(_lines(section_of[f.path], "-")) | scan(
                f.path.encode("utf-8", "surrogateescape"))
            if wanted.holds(f.path, found):
                read.append(f)
            else:
                skipped[f.path] = FileCoverage.unread(f, "file", trees[1].context or "hunks")
    posts = texts | _blobs(reader, [f"{new_rev}:{f.new_path}" for f in read
                                    if f.new_path and f"{new_rev}:{f.new_path}" not in texts])
    pres = _blobs(reader, [f"{old_rev}:{f.old_path}" for f in read if f.old_path])
    full = {f.path: f for f in light}
    for f in read:
        parsed = diff.parse(section_of[f.path])
        full[f.path] = replace(parsed[0], old_blob=f.old_blob, new_blob=f.new_blob) \
            if len(parsed) == 1 else f
    items: list[PairOrSkip] = []
    for f in touched:
        if f.path in skipped:
            items.append((None, skipped[f.path]))
            continue
        pre = pres.get(f"{old_rev}:{f.old_path}") if f.old_path else None
        post = posts.get(f"{new_rev}:{f.new_path}") if f.new_path else None
        items.append((file_pair(full[f.path], pre, post, *trees), None))
    return tuple(full[f.path] for f in light), tuple(items)


def _light(section: str) -> FileDiff:
    """Read a file diff's paths and hunk headers, not its lines."""
    head = section.split("\n@@", 1)[0] + "\n"
    parsed = diff.parse(head)
    hunks = tuple(Hunk(int(m.group(1)), int(m.group(2) or 1), int(m.group(3)),
                       int(m.group(4) or 1), m.group(5).strip(), ())
                  for m in HUNK_HEADS_RE.finditer(section))
    if len(parsed) != 1:
        return FileDiff(None, None, hunks)
    return diff.blobs_of(replace(parsed[0], hunks=hunks), diff.index_blobs(head.split("\n")))


def c_sections(text: str) -> list[str]:
    """Return the ``diff --git`` sections of C sources and headers (a quoted path ends with
    ``"``: its suffix is read inside the quotes)."""
    parts = re.split(r"(?m)^(?=diff --git )", text)
    return [p for p in parts if p.startswith("diff --git ") and is_c_path(
        p.split("\n", 1)[0].rstrip().rstrip('"'))]


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
    buffer = bytearray()  # the commits not yet whole
    boundary = b"\n" + START_B
    searched = 1  # where a boundary may start that was not looked for yet
    out = proc.stdout.fileno()  # read what git has written so far: a commit is analysed as
    while block := os.read(out, 1 << 20):  # soon as it is whole, not once a buffer is full
        buffer += block
        start, cut = 0, buffer.find(boundary, searched)
        while cut >= 0:
            yield _logged(bytes(buffer[start:cut]))
            start = cut + 1
            cut = buffer.find(boundary, start + 1)
        del buffer[:start]
        searched = max(1, len(buffer) - len(boundary) + 1)  # a large commit is read once
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


def logged_patch(context: Context, repo: Path, logged: LoggedCommit, index: int,
                 input_name: str, wanted: Wanted | None = None) -> GitPatch:
    """Turn one logged commit into a patch with whole-file images of its C files, each image
    with its tree (the parent's for the pre-image, the commit's for the post-image); only the
    files ``wanted`` accepts have their hunk lines parsed."""
    trees = commit_trees(context, repo, logged.parent, logged.commit)
    reader = context.repository(repo).reader
    files, pairs = _pairs(reader, c_sections(logged.diff), logged.parent, logged.commit, trees,
                          wanted)
    prefixes, revision, inferred, counter, expected = parse_subject(logged.subject)
    patch = Patch(
        input=input_name, index=index, msgid=None, subject=logged.subject, prefixes=prefixes,
        revision=revision, revision_inferred=inferred, counter=counter, expected=expected,
        author=logged.author, date=logged.date, trailers=parse_trailers(logged.message),
        message=logged.message, files=files, commit=logged.commit,
    )
    return GitPatch(patch, pairs)


def count_range(repo: Path, revision_range: str) -> int:
    """Count the non-merge commits of a range (for the progress bar)."""
    words = revision_range.split()
    if len(words) == 1 and ".." not in revision_range:
        return 1
    out = git(repo, "rev-list", "--count", "--no-merges", "--end-of-options", *words, "--")
    return int(out.decode().strip() or 0)


def staged_patch(repo: Path, input_name: str, context: Context,
                 message: str = "") -> GitPatch | None:
    """Return the staged change against HEAD as a patch (None when nothing is staged);
    ``message`` is the commit message being written, whose trailers the patch carries."""
    try:
        base = git(repo, "rev-parse", "--verify", "-q", "HEAD").decode().strip()
    except GitError:
        base = EMPTY_TREE
    raw = git(repo, "diff", "--cached", *DIFF_OPTIONS, base, "--")
    if not raw.strip():
        return None
    trees = staged_trees(context, repo, base)
    files, pairs = _pairs(context.repository(repo).reader,
                          c_sections(raw.decode("utf-8", "surrogateescape")), base, "", trees)
    patch = Patch(
        input=input_name, index=0, msgid=None, subject="staged changes", prefixes=(),
        revision=1, revision_inferred=True, counter=None, expected=None, author=None,
        date=None, trailers=parse_trailers(message), message=message, files=files,
    )
    return GitPatch(patch, pairs)


def tree_files(repo: Path, revision: str, pathspecs: tuple[str, ...]) -> dict[str, str]:
    """Return path -> blob id of the C files of a revision a pathspec selects (as ``git grep
    REV -- PATHSPEC`` would search them)."""
    tree = tree_of(repo, revision)
    for spec in pathspecs:
        if "\n" in spec:
            raise GitError(f"invalid pathspec '{spec}'")
    found = diff_trees(repo, EMPTY_TREE, tree, (".c", ".h", ".inc"), pathspecs)
    return {path: oid for path, oid in sorted(found.items()) if oid is not None}


def require_repository(repo: Path) -> None:
    """Raise a one-line GitError unless ``repo`` is in a git repository."""
    try:
        git(repo, "rev-parse", "--git-dir")
    except GitError as exc:
        raise GitError(f"{repo.resolve()}: not in a git repository (--repo DIR names one)"
                       ) from exc


def toplevel(repo: Path) -> Path:
    """Return the top folder of the work tree holding ``repo``; a bare repository, or a
    folder that is in no repository, is its own top."""
    try:
        out = git(repo, "rev-parse", "--show-toplevel").decode("utf-8", "surrogateescape")
    except GitError:
        return repo.resolve()
    return Path(out.strip() or repo).resolve()


def staged_paths(repo: Path) -> set[str]:
    """Return the paths the staged change touches, from the top of the work tree."""
    raw = git(repo, "diff", "--cached", "--name-only", "-z", "--no-renames")
    return {p for p in raw.decode("utf-8", "surrogateescape").split("\0") if p}


def clean_message(text: str) -> str:
    """Return a commit message as git records it: without its ``#`` comment lines and
    without what follows the scissors line of ``git commit -v``."""
    kept = []
    for line in text.splitlines():
        if line.startswith("# ") and ">8" in line:
            break
        if not line.startswith("#"):
            kept.append(line)
    return "\n".join(kept).strip()


def first_push_range(repo: Path, tip: str, remote: str | None) -> str:
    """Return the range of a push that starts a branch no remote commit leads to: every
    commit of ``tip`` back to its roots (each ``ROOT^@`` excludes nothing, so the root
    itself is in), less what the remote's branches already hold."""
    check_revision(tip)
    roots = git(repo, "rev-list", "--max-parents=0", "--end-of-options", tip, "--").split()
    held = git(repo, "for-each-ref", "--format=%(objectname)",
               f"refs/remotes/{remote}" if remote else "refs/remotes").split()
    return " ".join([tip, *(f"^{r.decode()}^@" for r in roots),
                     *(f"^{h.decode()}" for h in held)])
