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
from functools import lru_cache
from pathlib import Path

from vfiolint.coverage import FileCoverage, ImageCoverage
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
from vfiolint.rules.keywords import BlobKeywords, KeywordSet

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
NO_BLOB = "0" * 40
EMPTY_BLOB = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"  # the blob of an empty file
FILE_MODES = ("100644", "100755", "100664", "120000")  # blobs; a submodule is no file


@dataclass(frozen=True, slots=True)
class Change:
    """One file a commit changes, as ``git log --raw`` lists it: its paths and blob ids
    (None for a side it does not have)."""

    status: str  # A, C, D, M, R, T (R and C with their score)
    old_path: str | None
    new_path: str | None
    old_blob: str | None
    new_blob: str | None

    @property
    def path(self) -> str:
        """Name the file as a reviewer knows it: the post-image path, else the pre-image one."""
        return self.new_path or self.old_path or "?"

    @property
    def text_changed(self) -> bool:
        """Tell whether the file's text changed, so that its diff has hunks (not a mode
        change, a pure rename, or an empty file added or taken away)."""
        return (self.old_blob or EMPTY_BLOB) != (self.new_blob or EMPTY_BLOB)


@dataclass(frozen=True, slots=True)
class LoggedCommit:
    """One commit as ``git log --raw`` printed it: metadata and the files it changes."""

    commit: str
    parent: str
    author: str
    date: str
    subject: str
    message: str
    changes: tuple[Change, ...]


def _logged(chunk: bytes) -> LoggedCommit:
    """Build a LoggedCommit from one commit's bytes of the log stream."""
    head, _, raw = chunk[len(START_B):].partition(END_B)
    text = head.decode("utf-8", "surrogateescape")
    commit, parents, author, date, subject, message = text.split(FIELD, 5)
    parent = parents.split()[0] if parents.split() else EMPTY_TREE
    return LoggedCommit(commit, parent, author, date, subject, message.strip(), _changes(raw))


def _changes(raw: bytes) -> tuple[Change, ...]:
    """Read ``--raw -z`` records: ``:old-mode new-mode old-blob new-blob status``, then one
    path (two for a rename or a copy), each ended by a NUL."""
    tokens = raw.split(b"\0")
    out: list[Change] = []
    i = 0
    while i < len(tokens):
        head = tokens[i].lstrip(b"\n")
        i += 1
        fields = head[1:].decode("ascii", "replace").split() if head.startswith(b":") else []
        if len(fields) != 5:
            continue
        old_mode, new_mode, old, new, status = fields
        count = 2 if status[:1] in ("R", "C") else 1
        paths = [t.decode("utf-8", "surrogateescape") for t in tokens[i:i + count]]
        i += count
        if len(paths) != count:
            break
        old_side = old != NO_BLOB and old_mode in FILE_MODES
        new_side = new != NO_BLOB and new_mode in FILE_MODES
        if not old_side and not new_side:
            continue
        out.append(Change(status, paths[0] if old_side else None,
                          paths[-1] if new_side else None,
                          old if old_side else None, new if new_side else None))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class BrokenCommit:
    """A commit git could not show (a missing object, a corrupt pack)."""

    commit: str
    message: str


def _log_stream(repo: Path, args: list[str], stdin: bytes | None = None
                ) -> Iterator[LoggedCommit]:
    """Run one ``git log --raw`` and yield its commits (metadata, and the blob ids of the
    files each changes: no diff is computed here); a failing git raises GitError, after the
    commits it showed whole (the one it broke on is never yielded half)."""
    cmd = ["git", "-C", str(repo), "log", "--no-merges", "--raw", "-z", "--no-abbrev", "-M",
           f"--format={LOG_FORMAT}", *args]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if stdin is not None else None,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    if stdin is not None and proc.stdin is not None:
        proc.stdin.write(stdin)
        proc.stdin.close()
    buffer = bytearray()  # the commits not yet whole
    boundary = b"\0" + START_B  # -z: the last record of a commit ends in a NUL
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
    """Stream the non-merge commits of a range, oldest first, from one ``git log --raw``.

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
    with its tree (the parent's for the pre-image, the commit's for the post-image).

    Only the C files ``wanted`` accepts (all of them without it) have their diff read, with
    one ``git diff-tree``: the others are known by their blob ids alone, and their coverage
    says so (``hunks`` None: not counted)."""
    trees = commit_trees(context, repo, logged.parent, logged.commit)
    reader = context.repository(repo).reader
    changed = [c for c in logged.changes if is_c_path(c.path) and c.text_changed]
    try:
        parts = {} if wanted is None else _wanted_changes(reader, wanted, changed)
        read = changed if wanted is None else [c for c in changed if id(c) in parts]
        diffs = _file_diffs(repo, logged.parent, logged.commit, read)
        texts = _texts(reader, read)
    except GitError as exc:
        raise GitError(f"{logged.commit[:12]}: {exc}") from exc
    files: list[FileDiff] = []
    pairs: list[PairOrSkip] = []
    judged, taken = {id(c) for c in changed}, {id(c) for c in read}
    for c in logged.changes:
        f = diffs.get(c.path) or FileDiff(c.old_path, c.new_path, (), old_blob=c.old_blob,
                                            new_blob=c.new_blob)
        files.append(f)
        if id(c) not in judged:
            continue
        if id(c) not in taken:
            pairs.append((None, FileCoverage(
                c.path, "file", None, None if c.old_path is None else ImageCoverage(False),
                None if c.new_path is None else ImageCoverage(False), trees[1].context or "hunks")))
        elif f.hunks:  # a diff with no hunk (a binary file) has nothing to judge
            pair = file_pair(f, texts.get(c.old_blob or ""), texts.get(c.new_blob or ""), *trees)
            pairs.append((replace(pair, parts=parts.get(id(c))), None))
    prefixes, revision, inferred, counter, expected = parse_subject(logged.subject)
    patch = Patch(
        input=input_name, index=index, msgid=None, subject=logged.subject, prefixes=prefixes,
        revision=revision, revision_inferred=inferred, counter=counter, expected=expected,
        author=logged.author, date=logged.date, trailers=parse_trailers(logged.message),
        message=logged.message, files=tuple(files), commit=logged.commit,
    )
    return GitPatch(patch, tuple(pairs))


def _wanted_changes(reader: BlobReader, wanted: Wanted, changes: list[Change]
                    ) -> dict[int, frozenset[bytes]]:
    """Return the changed files some rule can read (by ``id``), each with the keyword parts
    its two blobs (kept for each blob, or found by reading it once) and its path hold."""
    blobs = wanted.blobs
    sides = list(dict.fromkeys(o for c in changes for o in (c.old_blob, c.new_blob) if o))
    known = blobs.get_many(sides)
    unknown = [o for o in sides if o not in known]
    paths = {o: c.path for c in changes for o in (c.old_blob, c.new_blob) if o}
    for oid, text in zip(unknown, reader.read_many(unknown) if unknown else [], strict=True):
        known[oid] = blobs.scanned(oid, _present(text, oid, paths[oid]))
    nothing = frozenset[bytes]()
    found = {id(c): _path_parts(blobs.keywords, c.path).union(
        known.get(c.old_blob or "", nothing), known.get(c.new_blob or "", nothing))
        for c in changes}
    return {id(c): found[id(c)] for c in changes if wanted.holds(c.path, found[id(c)])}


@lru_cache(maxsize=4096)
def _path_parts(keywords: KeywordSet, path: str) -> frozenset[bytes]:
    """Return the keyword parts a path holds (a path recurs across a range)."""
    return keywords.scan(path.encode("utf-8", "surrogateescape"))


def _texts(reader: BlobReader, changes: list[Change]) -> dict[str, bytes]:
    """Read the blobs of some changed files in one batch, by id."""
    paths = {o: c.path for c in changes for o in (c.old_blob, c.new_blob) if o is not None}
    oids = sorted(paths)
    texts = reader.read_many(oids) if oids else []
    return {o: _present(t, o, paths[o]) for o, t in zip(oids, texts, strict=True)}


def _present(text: bytes | None, oid: str, path: str) -> bytes:
    """Return a blob's text; one the repository lacks (a damaged or partial clone) is the
    commit's error."""
    if text is None:
        raise GitError(f"git: {path}: blob {oid} is missing from the repository")
    return text


def _file_diffs(repo: Path, parent: str, commit: str, changes: list[Change]
                ) -> dict[str, FileDiff]:
    """Return the diffs of some files a commit changes (by the path a reviewer knows), as
    ``git log -p`` shows them, with their blob ids."""
    if not changes:
        return {}
    paths = sorted({p for c in changes for p in (c.old_path, c.new_path) if p is not None})
    text = git(repo, "diff-tree", "-r", "-p", *DIFF_OPTIONS, "--end-of-options", parent,
               commit, "--", *(f":(top,literal){p}" for p in paths))
    blobs = {c.path: c for c in changes}
    out: dict[str, FileDiff] = {}
    for section in c_sections(text.decode("utf-8", "surrogateescape")):
        parsed = diff.parse(section)
        if len(parsed) != 1 or parsed[0].path not in blobs:
            continue
        c = blobs[parsed[0].path]
        out[c.path] = replace(parsed[0], old_blob=c.old_blob, new_blob=c.new_blob)
    return out


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
