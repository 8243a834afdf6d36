"""Code read with its tree: the repository index attached to every unit that has one.

* a commit of a range (``--git``): the pre-image sees the parent's tree, the post-image the
  commit's tree;
* the staged change (``--staged``): HEAD's tree, and HEAD's tree with the index's blobs of the
  staged files over it (``git diff-index --cached``; no tree is written);
* a revision (``--tree REV``): its tree;
* a C file inside a git work tree: HEAD's tree with the work tree's modified and new files
  over it;
* a mailed patch with ``--repo``: whole-file images built in memory (``Series``), in the base
  tree, and the base tree with the patched files over it.

Nothing is written to the repository: objects are read with ``cat-file``, ``ls-tree``,
``diff-tree``, and the work tree with ``status --no-optional-locks``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from vfiolint import gitstore
from vfiolint.errors import GitError
from vfiolint.inputs.images import Tree, UnitPair, file_pair, hunk_pair
from vfiolint.model import FileDiff, Hunk, LineKind, Patch, is_c_path

if TYPE_CHECKING:  # the index is imported when a tree is first needed: most runs need none
    from vfiolint.c.index import Repository, TreeSpec
    from vfiolint.inputs.context import Context

log = logging.getLogger(__name__)


def head_commit(repo: Path, revision: str = "HEAD") -> str:
    """Return the commit a revision names (EMPTY_TREE when HEAD is unborn)."""
    try:
        return gitstore.commit_of(repo, revision)
    except GitError:
        if revision == "HEAD":
            return gitstore.EMPTY_TREE
        raise


def worktree_spec(repo: Repository) -> TreeSpec:
    """Return a work tree's tree: HEAD with the modified and new C files over it."""
    from vfiolint.c.index import KEEP, TreeSpec

    head = head_commit(repo.path)
    changes: list[tuple[str, str | None]] = []
    for path in gitstore.worktree_changes(repo.path, KEEP):
        try:
            data = (repo.path / path).read_bytes()
        except OSError:
            changes.append((path, None))  # deleted, or not a regular file
            continue
        changes.append((path, repo.add_text(data)))
    return TreeSpec(head, tuple(changes))


def staged_trees(context: Context, repo_path: Path, base: str) -> tuple[Tree, Tree]:
    """Return the trees of the staged change: HEAD's, and HEAD's with the staged blobs."""
    from vfiolint.c.index import KEEP, TreeSpec

    repo = context.repository(repo_path)
    changes = gitstore.staged_changes(repo_path, base, KEEP) if context.index else {}
    return (context.tree(repo, TreeSpec(base)),
            context.tree(repo, TreeSpec(base, tuple(sorted(changes.items())))))


def commit_trees(context: Context, repo_path: Path, parent: str, commit: str
                 ) -> tuple[Tree, Tree]:
    """Return the trees of one commit: its parent's, and its own."""
    from vfiolint.c.index import TreeSpec

    repo = context.repository(repo_path)
    return context.tree(repo, TreeSpec(parent)), context.tree(repo, TreeSpec(commit))


# --- patches applied in memory ------------------------------------------------------------


def apply_hunks(text: bytes, hunks: Iterable[Hunk]) -> bytes | None:
    """Apply a file's hunks to its text exactly (no offset, no fuzz); None when they do not
    apply. Lines keep their endings; the file's final newline is kept as it was."""
    decoded = text.decode("utf-8", "surrogateescape")
    ends = decoded.endswith("\n") or not decoded
    old = decoded.split("\n")
    if ends:
        old.pop()
    out: list[str] = []
    pos = 0
    for hunk in hunks:
        before = [x.text for x in hunk.lines if x.kind is not LineKind.ADDED]
        after = [x.text for x in hunk.lines if x.kind is not LineKind.REMOVED]
        start = hunk.old_start - 1 if before else hunk.old_start
        if start < pos or old[start:start + len(before)] != before:
            return None
        out += old[pos:start]
        out += after
        pos = start + len(before)
    out += old[pos:]
    body = "\n".join(out) + ("\n" if out and ends else "")
    return body.encode("utf-8", "surrogateescape")


@dataclass
class _Image:
    """A file's text as a series has left it, and how its first text was found."""

    text: bytes
    context: str
    oid: str


@dataclass
class _SeriesState:
    """What the patches of one series applied so far have done to the files."""

    base: str
    base_context: str
    files: dict[str, _Image | None] = field(default_factory=dict)


class Series:
    """The patches of one input checked with their repository (``--repo``, ``--base``).

    A patch's pre-image is the first of these its hunks apply to exactly: what earlier
    patches of its series made of the file (3/5 on top of 1/5 and 2/5), the blob its ``index``
    line names, the file at its ``base-commit:``, the file at ``--base`` (default HEAD). A
    file none fits is read from its hunks alone (``hunks``). Everything is in memory."""

    def __init__(self, context: Context, repo: Path, base: str | None) -> None:
        self.context = context
        gitstore.git(repo, "rev-parse", "--git-dir")  # a clear error when it is no repository
        self.repo = context.repository(repo)
        self.default_base = head_commit(repo, base or "HEAD")
        self.states: dict[tuple[int, int | None, str | None], _SeriesState] = {}

    def _state(self, patch: Patch) -> _SeriesState:
        """Return the state of the series a patch belongs to (a patch alone: a fresh one)."""
        base, label = self.default_base, "head"
        if patch.base:
            try:
                base, label = gitstore.commit_of(self.repo.path, patch.base), "base-commit"
            except GitError:
                log.info("%s: base-commit %s is not in the repository", patch.label,
                         patch.base)
        if patch.counter is None:
            return _SeriesState(base, label)
        key = (patch.revision, patch.expected, patch.input)
        state = self.states.get(key)
        if state is None or (label == "base-commit" and state.base != base):
            state = self.states[key] = _SeriesState(base, label)
        return state

    def pairs(self, patch: Patch) -> Iterator[UnitPair]:
        """Yield the image pairs of a patch's C files (whole files where they fit)."""
        state = self._state(patch) if patch.quote_depth == 0 else None
        if state is None:
            for f in patch.files:
                if is_c_path(f.path) and f.hunks:
                    yield hunk_pair(f)
            return
        before = dict(state.files)
        found: list[tuple[FileDiff, _Image | None, _Image | None]] = []
        for f in patch.files:
            if not is_c_path(f.path) or not f.hunks:
                continue
            pre = self._pre_image(f, state)
            post = None
            if pre is not None or f.old_path is None:
                text = apply_hunks(pre.text if pre is not None else b"", f.hunks)
                if text is not None:
                    post = _Image(text, pre.context if pre else state.base_context,
                                  self.repo.add_text(text))
            found.append((f, pre, post))
            if post is not None or f.old_path is None:
                if f.old_path is not None and f.old_path != f.new_path:
                    state.files[f.old_path] = None
                if f.new_path is not None and post is not None:
                    state.files[f.new_path] = post
        pre_tree = self._tree(state, before)
        post_tree = self._tree(state, state.files)
        for f, pre, post in found:
            if post is None:
                yield hunk_pair(f)
                continue
            label = post.context
            yield file_pair(f, pre.text if pre is not None else None, post.text,
                            Tree(pre_tree.definitions, label),
                            Tree(post_tree.definitions, label))

    def _tree(self, state: _SeriesState, files: dict[str, _Image | None]) -> Tree:
        """Return the base tree with the series' files over it."""
        from vfiolint.c.index import C_FILES, TreeSpec

        changes = tuple(sorted((p, i.oid if i is not None else None) for p, i in files.items()
                               if p.endswith(C_FILES)))
        return self.context.tree(self.repo, TreeSpec(state.base, changes))

    def _pre_image(self, f: FileDiff, state: _SeriesState) -> _Image | None:
        """Return the first whole pre-image the file's hunks apply to (class doc)."""
        path = f.old_path
        if path is None:
            return None
        candidates: list[tuple[str, str, bytes | None]] = []
        if path in state.files:
            earlier = state.files[path]
            if earlier is not None:
                candidates.append((earlier.context, earlier.oid, earlier.text))
        if f.old_blob:
            oid, text = self.repo.reader.read_typed([f.old_blob])[0]
            if text is not None and oid:
                candidates.append(("blob", oid, text))
        for base, label in ((state.base, state.base_context), (self.default_base, "head")):
            if base == gitstore.EMPTY_TREE:
                continue
            oid, text = self.repo.reader.read_typed([f"{base}:{path}"])[0]
            if text is not None:
                candidates.append((label, oid, text))
        for label, oid, text in candidates:
            if text is not None and apply_hunks(text, f.hunks) is not None:
                return _Image(text, label, oid)
        return None
