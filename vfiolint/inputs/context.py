"""Where every tree a run opens lives: the cache, each repository's index, the trees of
commits, revisions and work trees (``trees.py`` says which tree each way of arriving gets).
The index, the cache and the C images are imported when a tree is first needed: a run that
needs none (a mailed patch) loads none of them."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from vfiolint.errors import GitError

if TYPE_CHECKING:
    from vfiolint.c.cache import Cache
    from vfiolint.c.index import Repository, TreeSpec
    from vfiolint.inputs.images import SourceUnit, Tree
    from vfiolint.rules.keywords import BlobKeywords, KeywordSet

log = logging.getLogger(__name__)
TREES_KEPT = 8  # the trees a context keeps: a commit's two sides, a revision's files


class Context:
    """Where every tree the run opens lives: the cache (``cache_root``, opened when a tree is
    first needed; ``writable`` None: found out then), and each repository's index (opened once
    per process, closed at the end); ``index`` False reads whole files but asks nothing of the
    tree (``--no-index``)."""

    def __init__(self, cache_root: Path | None = None, writable: bool | None = None,
                 index: bool = True, jobs: int = 1) -> None:
        self.cache_root = cache_root
        self.writable = writable
        self.index = index
        self.jobs = jobs
        self._cache: Cache | None = None
        self._repos: dict[Path, Repository] = {}
        self._worktrees: dict[Path, tuple[Repository, TreeSpec] | None] = {}
        self._tops: dict[Path, Path | None] = {}
        self._trees: dict[tuple[int, str, str, tuple[tuple[str, str], ...]], Tree] = {}
        self._keywords: dict[str, BlobKeywords] = {}

    @property
    def cache(self) -> Cache:
        """Return the cache, opening it the first time."""
        if self._cache is None:
            from vfiolint.c.cache import NO_CACHE, Cache

            if self.cache_root is None:
                self._cache = NO_CACHE
            elif self.writable is None:
                self._cache = Cache.open(self.cache_root)
            else:
                self._cache = Cache(self.cache_root, self.writable)
        return self._cache

    def keywords(self, keywords: KeywordSet) -> BlobKeywords:
        """Return the keyword parts each blob holds, for one set of parts (kept in the cache
        unless ``--no-cache``)."""
        from vfiolint.rules.keywords import BlobKeywords

        found = self._keywords.get(keywords.digest)
        if found is None:
            cache = self.cache if self.cache_root is not None else None
            found = self._keywords[keywords.digest] = BlobKeywords(keywords, cache)
        return found

    def repository(self, path: Path) -> Repository:
        """Return the index of a repository (one per process)."""
        from vfiolint.c.index import Repository

        found = self._repos.get(path)
        if found is None:
            key = path.resolve()
            found = self._repos.get(key)
            if found is None:
                found = self._repos[key] = Repository(path, self.cache, self.jobs)
            self._repos[path] = found
        return found

    def tree(self, repo: Repository, spec: TreeSpec, context: str = "tree",
             aliases: tuple[tuple[str, str], ...] = ()) -> Tree:
        """Return the tree an image was read from (its definitions unless ``--no-index``)."""
        from vfiolint.inputs.images import Tree

        if not self.index:
            return Tree(context=context)
        from vfiolint.c.resolve import TreeDefinitions

        key = (id(repo), spec.key, context, aliases)  # the files of a revision share one
        found = self._trees.get(key)
        if found is None:
            found = self._trees[key] = Tree(TreeDefinitions(repo, spec, aliases), context)
            while len(self._trees) > TREES_KEPT:
                self._trees.pop(next(iter(self._trees)))
        return found

    def close(self) -> None:
        """Stop every repository's git process; write the blobs' keyword parts not yet
        written."""
        for repo in set(self._repos.values()):
            repo.close()
        self._repos.clear()
        for blobs in self._keywords.values():
            blobs.close()

    def source_unit(self, unit: SourceUnit, name: str) -> SourceUnit:
        """Give a C file checked in a git work tree that tree: HEAD with the work tree's
        changed files over it; a file elsewhere is returned as it is."""
        if name == "-":
            return unit
        absolute = Path(name).absolute()
        found = self._worktree(absolute.parent)
        if found is None:
            return unit
        repo, spec = found
        try:
            rel = absolute.resolve().relative_to(repo.path.resolve()).as_posix()
        except ValueError:
            return unit
        from vfiolint.inputs.images import SourceUnit

        tree = self.tree(repo, spec, "tree", ((unit.path, rel),) if rel != unit.path else ())
        return SourceUnit(unit.path, unit.text, unit.origin, unit.line_map, unit.touched,
                          tree.definitions, tree.context)

    def _worktree(self, folder: Path) -> tuple[Repository, TreeSpec] | None:
        """Return the repository whose work tree holds a folder, with its tree."""
        if folder not in self._tops:
            self._tops[folder] = _work_tree_top(folder)
        top = self._tops[folder]
        if top is None:
            return None
        if top not in self._worktrees:
            self._worktrees[top] = None
            from vfiolint.inputs.trees import worktree_spec

            try:
                repo = self.repository(top)
                self._worktrees[top] = (repo, worktree_spec(repo))
            except GitError as exc:
                log.info("%s: no index of the work tree: %s", top, exc)
        return self._worktrees[top]


def _work_tree_top(folder: Path) -> Path | None:
    """Return the top of the git work tree holding a folder (a ``.git`` beside it)."""
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    return None
