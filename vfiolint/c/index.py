"""The repository index: what each file of a tree defines, and where each name is defined.

A *tree* is a git tree (read with ``ls-tree``, its files with one ``cat-file --batch``; no
checkout), or a git tree with some files changed over it: the index's blobs (``--staged``),
a work tree's modified files, a patch applied in memory. ``TreeSpec`` names one.

Per blob, the lexical scan (``c/scan.py``) gives what the file defines; its *outline* (what it
includes, the names it defines) is what following includes and building name maps need. Per
tree, a name map says which files define each name that other files can see: macros, records,
typedefs and functions of headers, and functions of ``.c`` files that are not ``static``. On
disk (``c/cache.py``) a tree's map and the *pack* of its blobs' outlines are cached by tree id,
and a blob's outline and facts by blob id once a question reached it: a first index writes a
handful of files, not one per blob. A tree close to one already loaded or cached (the next
commit of a range, a new commit) is that tree's map with the changed files taken out and put
back; a tree indexed whole reads the outlines of the blobs it shares with the last ones from
their packs and scans only the others. Within a run, the next commit's tree is listed from the
last one's (``diff-tree``, not ``ls-tree``) and keeps its include path, and the includes
followed from a file whose includes did not change.

Nothing is read before a question needs it: building a unit's provider costs nothing, and a
run whose rules never ask the tree anything never reads the index.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from vfiolint import gitstore
from vfiolint.c.cache import NO_CACHE, Cache
from vfiolint.c.includes import IncludePath
from vfiolint.c.scan import SCAN_VERSION, BlobFacts, plain_names, scan

R = TypeVar("R")
C_FILES = (".c", ".h", ".inc")
SPECIAL = ("compile_commands.json", ".clang-format")
KEEP = C_FILES + SPECIAL
HEADERS = (".h", ".inc")
# A tree more files than this away from the trees loaded or cached is indexed whole (and
# cached), not as a delta: it becomes the base of the next ones, so a long range moves from
# base to base instead of carrying ever larger deltas.
DELTA_LIMIT = 300
# Blobs scanned in worker processes when at least this many are missing from the cache.
PARALLEL_SCAN = 256
FACTS_MEMO = 256  # blobs whose facts are kept in memory (a big header's are large)
MAX_INCLUDED = 400  # files followed through #include from one file
RECENT = 8  # trees remembered per repository, to index a new one as a delta of one of them
MAPS_KEPT = 3  # whole name maps kept in memory (a long range moves from one to the next)
PACKS_LOADED = 2  # packs of outlines (a whole tree's each) a process loads at most
ASKED_PER_FILE = 32  # changed files a delta's lookup asks one by one; more: one table of them
CHAIN_LIMIT = 16  # deltas a name map of the next commit may stack on a mapped tree's map


@dataclass(frozen=True, slots=True)
class TreeSpec:
    """A tree to index: a git tree (``base``, EMPTY_TREE for none) with files changed over it
    (path -> blob id, None for a file taken away)."""

    base: str
    changes: tuple[tuple[str, str | None], ...] = ()

    @property
    def key(self) -> str:
        """Return a string naming exactly this tree's content."""
        if not self.changes:
            return self.base
        digest = hashlib.sha1(repr(sorted(self.changes)).encode("utf-8", "surrogateescape"),
                              usedforsecurity=False).hexdigest()
        return f"{self.base}+{digest[:16]}"


def exported(path: str, kind: str) -> bool:
    """Tell whether a name of this kind defined in this file can be seen from other files."""
    if path.endswith(HEADERS):
        return True
    return kind == "f"


@dataclass
class NameMap:
    """Where each exported name of one tree is defined.

    The map is one sorted text, a line per name (``kind:name<TAB>i,j,…``, the numbers indexing
    ``paths``), searched where a question falls rather than loaded into a dictionary: a map of
    DPDK's 150,000 names is read from the cache in milliseconds."""

    paths: list[str]
    table: bytes

    @classmethod
    def build(cls, files: dict[str, str],
              names_of: Iterable[tuple[str, Iterable[tuple[str, str]]]]) -> NameMap:
        """Make the map of a tree (path -> blob id) from the names each blob defines."""
        paths = sorted(files)
        where: defaultdict[str, list[int]] = defaultdict(list)
        for i, path in enumerate(paths):
            where[files[path]].append(i)
        names: defaultdict[str, set[int]] = defaultdict(set)
        for oid, defined in names_of:
            at = where.get(oid, ())
            for kind, name in defined:
                for i in at:
                    if exported(paths[i], kind):
                        names[f"{kind}:{name}"].add(i)
        lines = [f"{k}\t{','.join(map(str, sorted(v)))}\n" for k, v in sorted(names.items())]
        return cls(paths, ("\n" + "".join(lines)).encode("utf-8", "surrogateescape"))

    def lookup(self, kind: str, name: str) -> tuple[str, ...]:
        """Return the files that define an exported name (a binary search of the lines)."""
        if "\n" in name or "\t" in name:
            return ()
        key = f"{kind}:{name}".encode("utf-8", "surrogateescape")
        table = self.table
        lo, hi = 1, len(table)  # the table starts with a newline: lines start after one
        while lo < hi:
            start = table.rfind(b"\n", 0, (lo + hi) // 2) + 1
            start = max(start, lo)
            tab = table.find(b"\t", start)
            end = table.find(b"\n", start)
            if tab < 0 or end < 0:
                return ()
            line_key = table[start:tab]
            if line_key < key:
                lo = end + 1
            elif line_key > key:
                hi = start
            else:
                return tuple(self.paths[int(i)] for i in table[tab + 1:end].split(b","))
        return ()

    def entries(self) -> Iterator[tuple[str, tuple[str, ...]]]:
        """Yield each exported ``kind:name`` with the files that define it."""
        for line in self.table.decode("utf-8", "surrogateescape").splitlines():
            key, _, where = line.partition("\t")
            if key:
                yield key, tuple(self.paths[int(i)] for i in where.split(","))

    def count(self) -> int:
        """Return how many exported names the tree defines."""
        return self.table.count(b"\n") - 1

    def to_plain(self) -> tuple[object, ...]:
        """Return the map for the cache."""
        return (self.paths, self.table)

    @classmethod
    def from_plain(cls, data: Any) -> NameMap:
        """Rebuild a map from the cache (raises on anything else)."""
        paths, table = data
        if not isinstance(paths, list) or not isinstance(table, bytes):
            raise ValueError("not a name map")
        return cls(paths, table)


@dataclass
class DeltaMap:
    """The name map of a tree close to another's: the other's map, with the changed files'
    names taken out and their new names put in.

    What the changed files define is kept per file (``defined``: path -> its ``kind:name``
    keys, None for a file taken away) and asked per lookup; the table of every added name
    (``added``) is made only when something needs it whole (listing, counting, keeping)."""

    base: NameMap | DeltaMap
    changed: frozenset[str]
    defined: dict[str, frozenset[str] | None] = field(default_factory=dict)
    _added: dict[str, tuple[str, ...]] | None = field(default=None, repr=False)

    @property
    def added(self) -> dict[str, tuple[str, ...]]:
        """Return the files that define each exported name the changed files define, in path
        order."""
        if self._added is None:
            added: defaultdict[str, list[str]] = defaultdict(list)
            for path, keys in sorted(self.defined.items()):
                for key in sorted(keys or ()):
                    if exported(path, key[0]):
                        added[key].append(path)
            self._added = {k: tuple(v) for k, v in added.items()}
        return self._added

    def lookup(self, kind: str, name: str) -> tuple[str, ...]:
        """Return the files that define an exported name, in path order (as the map of the
        tree indexed whole gives them)."""
        kept = tuple(p for p in self.base.lookup(kind, name) if p not in self.changed)
        key = f"{kind}:{name}"
        if self._added is not None or len(self.defined) > ASKED_PER_FILE:
            added = self.added.get(key, ())
        else:
            added = tuple(p for p, keys in sorted(self.defined.items())
                          if keys is not None and key in keys and exported(p, kind))
        return tuple(sorted(kept + added)) if added else kept

    def entries(self) -> Iterator[tuple[str, tuple[str, ...]]]:
        """Yield each exported ``kind:name`` with the files that define it."""
        seen = set()
        for key, where in self.base.entries():
            kept = tuple(p for p in where if p not in self.changed) + self.added.get(key, ())
            seen.add(key)
            if kept:
                yield key, kept
        yield from ((k, v) for k, v in self.added.items() if k not in seen)

    def count(self) -> int:
        """Return how many exported names the tree defines."""
        return sum(1 for _ in self.entries())


def _changed(files: dict[str, str], changes: Iterable[tuple[str, str | None]]
             ) -> dict[str, str]:
    """Return a tree's files (path -> blob id) with some changed (None: taken away)."""
    for path, oid in changes:
        if oid is None:
            files.pop(path, None)
        else:
            files[path] = oid
    return files


def _depth(names: NameMap | DeltaMap) -> int:
    """Return how many deltas a map's lookups go through."""
    depth = 0
    while isinstance(names, DeltaMap):
        names, depth = names.base, depth + 1
    return depth


def _delta(base: NameMap | DeltaMap, changes: dict[str, frozenset[str] | None]) -> DeltaMap:
    """Make the map of a tree whose files differ from a mapped one's by ``changes`` (path ->
    the ``kind:name`` keys its new text defines, None for a file taken away)."""
    return DeltaMap(base, frozenset(changes), dict(changes))


@dataclass
class TreeView:
    """The files of one tree and what can be asked of them as a whole.

    A view made from a close one (``successor``) shares its include path when no file came
    or went, and its answers about files whose own text, and whose includes' texts, did not
    change: a commit of a range re-reads only around the files it touched."""

    spec: TreeSpec
    files: dict[str, str]
    _include_path: IncludePath | None = None
    _names: NameMap | DeltaMap | None = None
    closures: dict[str, tuple[str, ...]] = field(default_factory=dict)
    visible: dict[str, tuple[tuple[str, frozenset[str]], ...]] = field(default_factory=dict)
    read: dict[str, frozenset[str]] = field(default_factory=dict)  # near -> files asked
    edges: dict[str, tuple[str, ...]] = field(default_factory=dict)  # path -> what it includes
    parent: TreeView | None = field(default=None, repr=False)  # the view it was made from
    changes: dict[str, str | None] = field(default_factory=dict)  # ... and what changed
    same_paths: bool = False  # ... and no file came or went
    answers: dict[tuple[str, str, str], Answer] = field(default_factory=dict)  # (kind, name, path)
    # changed files whose outline changed -> names defined or no longer, includes changed
    outline_changes: dict[str, tuple[frozenset[str], bool]] | None = None

    def successor(self, spec: TreeSpec, files: dict[str, str],
                  changes: dict[str, str | None]) -> TreeView:
        """Return the view of a tree whose files are this one's with ``changes``."""
        view = TreeView(spec, files, parent=self, changes=changes)
        if any(p.endswith(SPECIAL) for p in changes) or any(
                (p in self.files) != (p in files) for p in changes):
            return view  # files came or went: the include path is the tree's own
        view.same_paths = True
        view._include_path = self._include_path  # or, when this one has none yet, found later
        self.parent = None  # a chain of views is one link long: the older ones can go
        return view


@dataclass(frozen=True, slots=True)
class Answer:
    """A lookup's answer in one tree, with what it depended on."""

    lookup: object  # the Lookup
    keys: frozenset[str]  # the ``kind:name`` keys it asked for
    read: frozenset[str]  # the files whose definitions it read


@dataclass(frozen=True, slots=True)
class _Outline:
    """What following includes needs of a blob: what it includes, what it defines."""

    includes: tuple[tuple[str, bool], ...]
    defined: frozenset[str]

    def to_plain(self) -> tuple[object, ...]:
        """Return the outline for the cache."""
        return (self.includes, tuple(sorted(self.defined)))

    @classmethod
    def from_plain(cls, data: Any) -> _Outline:
        """Rebuild an outline from the cache (raises on anything else)."""
        includes, defined = data
        return cls(tuple((str(n), bool(q)) for n, q in includes), frozenset(defined))


def _outline(plain: Any) -> _Outline:
    """Return a blob's outline from its facts as plain tuples."""
    return _Outline(tuple((name, quoted) for name, quoted, _ in plain[4]),
                    frozenset(f"{k}:{n}" for k, n in plain_names(plain)))


def _scan_plain(item: tuple[str, bytes, Cache]) -> tuple[str, tuple[object, ...]]:
    """Pool entry point: scan one blob and cache what it defines (and its outline)."""
    oid, text, cache = item
    plain = scan(text).to_plain()
    cache.put("blob", _facts_key(oid), plain)
    cache.put("outline", _facts_key(oid), _outline(plain).to_plain())
    return oid, plain


def _scan_outline(item: tuple[str, bytes, Cache]) -> tuple[str, _Outline]:
    """Pool entry point: scan one blob and return its outline only (all a name map needs; the
    outlines of a whole tree are cached together, in one pack)."""
    oid, text, _ = item
    return oid, _outline(scan(text).to_plain())


def _facts_key(oid: str) -> str:
    """Return a blob's cache key (the scanner's version is part of it)."""
    return f"{oid}{SCAN_VERSION:02x}"


class Blobs:
    """One repository's objects during one run, and what each blob defines: the
    ``cat-file`` process, texts that are in no object, and the facts of blobs (memory, then the
    cache, then a scan)."""

    def __init__(self, path: Path, cache: Cache = NO_CACHE, jobs: int = 1) -> None:
        self.path = path
        self.cache = cache
        self.jobs = jobs
        self._reader: gitstore.BlobReader | None = None
        self.texts: dict[str, bytes] = {}
        self._facts: OrderedDict[str, BlobFacts] = OrderedDict()
        self._trees: dict[str, str] = {}
        self._outline: dict[str, _Outline] = {}
        self._packed: dict[str, _Outline] = {}  # the outlines of the packs loaded
        self._packs: set[str] = set()
        self.ident = str(path.resolve())

    # --- objects ---

    @property
    def reader(self) -> gitstore.BlobReader:
        """Return the repository's ``cat-file --batch`` process (started when first needed)."""
        if self._reader is None:
            self._reader = gitstore.BlobReader(self.path)
        return self._reader

    def close(self) -> None:
        """Stop the repository's git process."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def tree_id(self, revision: str) -> str:
        """Return the tree id a revision or object id names (raises GitError when none)."""
        if revision == gitstore.EMPTY_TREE:
            return revision
        found = self._trees.get(revision)
        if found is None:
            gitstore.check_revision(revision)
            oid, data = self.reader.read_typed([f"{revision}^{{tree}}"])[0]
            if data is None or not oid:
                raise gitstore.GitError(f"{revision}: not a revision of {self.path}")
            found = self._trees[revision] = oid
        return found

    def add_text(self, data: bytes) -> str:
        """Keep a text that is in no git object (a patched or modified file); return its id."""
        oid = gitstore.blob_id(data)
        self.texts[oid] = data
        return oid

    def read(self, oids: list[str]) -> list[bytes | None]:
        """Return the texts of some blobs (None for a missing one)."""
        wanted = [o for o in oids if o not in self.texts]
        found = dict(zip(wanted, self.reader.read_many(wanted), strict=True)) if wanted else {}
        return [self.texts[o] if o in self.texts else found.get(o) for o in oids]

    # --- what each blob defines ---

    def facts(self, oid: str) -> BlobFacts:
        """Return what one blob defines (memory, then the cache, then a scan)."""
        return self.facts_many([oid])[oid]

    def facts_many(self, oids: Iterable[str]) -> dict[str, BlobFacts]:
        """Return what several blobs define (kept in memory, a bounded number of them)."""
        out: dict[str, BlobFacts] = {}
        wanted = []
        for oid in dict.fromkeys(oids):
            memo = self._facts.get(oid)
            if memo is not None:
                self._facts.move_to_end(oid)
                out[oid] = memo
            else:
                wanted.append(oid)
        for oid, plain in self.plain_many(wanted):
            facts = BlobFacts.from_plain(plain)
            out[oid] = facts
            self._facts[oid] = facts
            while len(self._facts) > FACTS_MEMO:
                self._facts.popitem(last=False)
        return out

    def plain_many(self, oids: list[str]) -> Iterator[tuple[str, tuple[object, ...]]]:
        """Yield (blob id, what it defines as plain tuples): from the cache, else read in
        batches and scanned (in worker processes when many are missing), and cached."""
        missing: list[str] = []
        for oid in oids:
            cached = self.cache.get("blob", _facts_key(oid))
            if isinstance(cached, tuple) and len(cached) == 5:
                yield oid, cached
            else:
                missing.append(oid)
        yield from self._scanned(missing, _scan_plain)


    def _scanned(self, oids: list[str], work: Callable[[tuple[str, bytes, Cache]], R]
                 ) -> Iterator[R]:
        """Read blobs in batches and scan them, in worker processes when there are many."""
        batch = 512
        pool = None
        if len(oids) >= PARALLEL_SCAN and self.jobs > 1:
            from concurrent.futures import ProcessPoolExecutor  # only a large index pays

            pool = ProcessPoolExecutor(max_workers=self.jobs)
        try:
            for start in range(0, len(oids), batch):
                part = oids[start:start + batch]
                texts = [(o, t if t is not None else b"", self.cache)
                         for o, t in zip(part, self.read(part), strict=True)]
                if pool is None:
                    yield from map(work, texts)
                else:
                    yield from pool.map(work, texts, chunksize=16)
        finally:
            if pool is not None:
                pool.shutdown()

    def _outlines(self, oids: Iterable[str], whole_tree: bool = False) -> dict[str, _Outline]:
        """Return the includes and defined names of some blobs: from memory, their cached
        outlines, the packs of trees indexed before, or a scan (read in one batch).

        For a ``whole_tree`` (a name map being built) the blobs scanned are not cached one by
        one: the caller caches all the outlines of the tree as one pack."""
        out: dict[str, _Outline] = {}
        wanted = []
        for oid in dict.fromkeys(oids):
            found = self._outline.get(oid)
            if found is not None:
                out[oid] = found
            elif oid in self._packed:
                out[oid] = self._from_pack(oid, whole_tree)
            elif oid in self._facts:
                out[oid] = _outline(self._facts[oid].to_plain())
            else:
                wanted.append(oid)
        missing = []
        for oid in wanted:
            cached = self.cache.get("outline", _facts_key(oid))
            try:
                out[oid] = _Outline.from_plain(cached)
            except (TypeError, ValueError):
                missing.append(oid)
        missing = self._from_packs(missing, out, whole_tree)
        if whole_tree:
            out.update(self._scanned(missing, _scan_outline))
        else:
            out.update((oid, _outline(plain)) for oid, plain in self._scanned(missing,
                                                                              _scan_plain))
        if not whole_tree:
            for oid, found in out.items():
                self._outline[oid] = found
            while len(self._outline) > FACTS_MEMO * 2:
                self._outline.pop(next(iter(self._outline)))
        return out

    def _from_packs(self, oids: list[str], out: dict[str, _Outline], whole_tree: bool
                    ) -> list[str]:
        """Fill ``out`` from the packs of the trees indexed last in this repository (each
        loaded once); return the blobs none holds. A blob found so is cached on its own,
        unless a whole tree's pack is being made."""
        missing = [o for o in oids if o not in self._packed]
        for oid in oids:
            if oid in self._packed:
                out[oid] = self._from_pack(oid, whole_tree)
        recent = self.cache.get("recent", _repo_key(self.ident)) if missing else None
        for tree in recent if isinstance(recent, list) else []:
            if not missing:
                break
            if len(self._packs) >= PACKS_LOADED:
                break
            if not isinstance(tree, str) or tree in self._packs:
                continue
            self._packs.add(tree)
            pack = self.cache.get("pack", _tree_key(tree))
            if not isinstance(pack, dict):
                continue
            for oid, plain in pack.items():
                try:
                    self._packed[oid] = _Outline.from_plain(plain)
                except (TypeError, ValueError):
                    continue
            for oid in [o for o in missing if o in self._packed]:
                out[oid] = self._from_pack(oid, whole_tree)
            missing = [o for o in missing if o not in self._packed]
        return missing

    def _from_pack(self, oid: str, whole_tree: bool) -> _Outline:
        """Return a blob's outline from a loaded pack, caching it on its own (once) so that the
        next run need not load the pack, unless a whole tree's pack is being made."""
        found = self._packed[oid]
        if not whole_tree and oid not in self._outline:
            self._outline[oid] = found
            self.cache.put("outline", _facts_key(oid), found.to_plain())
        return found

class Repository(Blobs):
    """One repository's index during one run: its trees (files, include paths, the files each
    file includes) and their name maps."""

    def __init__(self, path: Path, cache: Cache = NO_CACHE, jobs: int = 1) -> None:
        super().__init__(path, cache, jobs)
        self._views: OrderedDict[str, TreeView] = OrderedDict()
        self._maps: dict[str, NameMap] = {}

    # --- trees ---

    def view(self, spec: TreeSpec) -> TreeView:
        """Return the files of a tree (a few trees are kept); a tree close to a kept one (the
        next commit of a range) is that one's files with the changed ones put in, and keeps
        what was found of the files it did not change."""
        found = self._views.get(spec.key)
        if found is not None:
            self._views.move_to_end(spec.key)
            return found
        view = self._close_view(spec) if not spec.changes else None
        if view is None:
            if spec.changes:
                files = dict(self.view(TreeSpec(spec.base)).files)
            elif spec.base == gitstore.EMPTY_TREE:
                files = {}
            else:
                files = gitstore.list_tree(self.path, spec.base, KEEP)
            view = TreeView(spec, _changed(files, (c for c in spec.changes
                                                   if c[1] is None or c[0].endswith(KEEP))))
        self._views[spec.key] = view
        while len(self._views) > 8:
            self._views.popitem(last=False)
        return view

    def _close_view(self, spec: TreeSpec) -> TreeView | None:
        """Return a git tree's view made from the last kept view of a git tree, when few files
        differ (None otherwise)."""
        kept = next((v for v in reversed(self._views.values()) if not v.spec.changes
                     and v.spec.base != gitstore.EMPTY_TREE), None)
        if kept is None or spec.base == gitstore.EMPTY_TREE:
            return None
        try:
            changes = gitstore.diff_trees(self.path, kept.spec.base, spec.base, KEEP)
        except gitstore.GitError:
            return None
        if len(changes) > DELTA_LIMIT:
            return None
        return kept.successor(spec, _changed(dict(kept.files), changes.items()), changes)

    def include_path(self, view: TreeView) -> IncludePath:
        """Return a tree's include path (compile_commands.json, else the usual folders)."""
        parent = view.parent
        if view._include_path is None and parent is not None and view.same_paths:
            view._include_path = self.include_path(parent)
        if view._include_path is None and parent is not None and \
                parent._include_path is not None and not any(
                    p.endswith(SPECIAL) for p in view.changes):  # a few C files came or went
            c_changes = [(p, o) for p, o in view.changes.items() if p.endswith(C_FILES)]
            view._include_path = parent._include_path.successor(  # it keeps only the new
                (p for p, o in c_changes if o is not None), (p for p, o in c_changes if o is None))
        if view._include_path is None:
            database = None
            for name in ("compile_commands.json", "build/compile_commands.json"):
                if name in view.files:
                    database = self.read([view.files[name]])[0]
                    break
            c_paths = [p for p in view.files if p.endswith(C_FILES)]
            view._include_path = IncludePath(c_paths, database)
        return view._include_path

    def text(self, view: TreeView, path: str) -> bytes | None:
        """Return a file's text in a tree."""
        oid = view.files.get(path)
        return None if oid is None else self.read([oid])[0]

    def text_at(self, spec: TreeSpec, path: str) -> bytes | None:
        """Return a file's text in a tree without listing the tree."""
        changed = dict(spec.changes)
        if path in changed:
            oid = changed[path]
            return None if oid is None else self.read([oid])[0]
        if spec.base == gitstore.EMPTY_TREE or "\n" in path:
            return None
        return self.reader.read(f"{spec.base}:{path}")

    def file_facts(self, view: TreeView, path: str) -> BlobFacts | None:
        """Return what one file of a tree defines."""
        oid = view.files.get(path)
        return None if oid is None or not path.endswith(C_FILES) else self.facts(oid)

    def included(self, view: TreeView, near: str) -> tuple[str, ...]:
        """Return the files a file includes, directly or not, nearest first (breadth first
        along the include path), without the file itself."""
        found = view.closures.get(near)
        if found is None and self._inherit(view, near):
            found = view.closures.get(near)
        if found is not None:
            return found
        include_path = self.include_path(view)
        order: list[str] = []
        seen = {near}
        frontier = [near]
        asked: set[str] = set()
        while frontier and len(order) < MAX_INCLUDED:
            asked.update(frontier)
            new = [p for p in frontier if p not in view.edges and p in view.files]
            outlines = self._outlines(view.files[p] for p in new)
            for path in new:
                targets = (include_path.resolve(name, path, quoted)
                           for name, quoted in outlines[view.files[path]].includes)
                view.edges[path] = tuple(t for t in targets if t is not None)
            nxt = []
            for path in frontier:
                for target in view.edges.get(path, ()):
                    if target not in seen:
                        seen.add(target)
                        order.append(target)
                        nxt.append(target)
            frontier = nxt
        view.closures[near] = tuple(order[:MAX_INCLUDED])
        view.read[near] = frozenset(asked | set(order))
        return view.closures[near]

    def _inherit(self, view: TreeView, near: str) -> bool:
        """Take a file's includes (and the names they define) from the view this one was made
        from, when the files followed include the same files in both (and define the same
        names): a commit's change to a function body changes neither. Tell whether it did."""
        parent = view.parent
        if parent is None or not view.same_paths or near not in parent.closures:
            return False
        asked = parent.read[near]
        changed = [p for p in asked if p in view.changes]
        old = self._outlines(parent.files[p] for p in changed)
        new = self._outlines(view.files[p] for p in changed)
        if any(old[parent.files[p]].includes != new[view.files[p]].includes for p in changed):
            return False
        view.read[near] = asked
        view.closures[near] = parent.closures[near]
        closure = set(parent.closures[near])
        if near in parent.visible and all(
                old[parent.files[p]].defined == new[view.files[p]].defined
                for p in changed if p in closure):
            view.visible[near] = parent.visible[near]
        return True

    def answer(self, view: TreeView, key: tuple[str, str, str]) -> Answer | None:
        """Return a lookup's answer kept for this tree, or for the tree it was made from when
        that answer still holds here (None: it must be found).

        An answer holds in the next tree when no file came or went, none of the files whose
        definitions it read changed, no changed file now defines, or stops defining, the name,
        and no changed file among those its includes were followed through includes anything
        else: the same files are asked, and they say the same. A commit's post-image asks what
        its pre-image asked; the next commit of a range asks what the last one did."""
        found = view.answers.get(key)
        if found is not None:
            return found
        parent = view.parent
        kept = parent.answers.get(key) if parent is not None else None
        if kept is None or parent is None or any(p in view.changes for p in kept.read):
            return None
        changed = self._outline_changes(view)
        if changed is None:
            return None
        followed = parent.read.get(key[2])
        for path, (names, includes) in changed.items():
            if names & kept.keys or (includes and (followed is None or path in followed)):
                return None
        view.answers[key] = kept
        if key[2] in parent.closures and key[2] not in view.closures:
            self._inherit(view, key[2])  # kept for the next tree, which may ask it
        return kept

    def _outline_changes(self, view: TreeView
                         ) -> dict[str, tuple[frozenset[str], bool]] | None:
        """Return, for each changed file of a view whose outline changed since the view it was
        made from, the names it began or stopped defining and whether its includes changed;
        None when files came or went (every answer is found again)."""
        if view.outline_changes is None and view.parent is not None and view.same_paths:
            parent = view.parent
            changed = [p for p in view.changes if p.endswith(C_FILES)]
            old = self._outlines(parent.files[p] for p in changed)
            new = self._outlines(view.files[p] for p in changed)
            view.outline_changes = {
                p: (a.defined ^ b.defined, a.includes != b.includes) for p in changed
                if (a := old[parent.files[p]]) != (b := new[view.files[p]])}
            if parent._names is not None:  # a tree that asks nothing keeps the maps' chain
                self.names(view)           # going: the next one's is a small difference too
        return view.outline_changes

    def defined(self, view: TreeView, path: str) -> frozenset[str]:
        """Return the ``kind:name`` of everything one file of a tree defines."""
        oid = view.files.get(path)
        if oid is None or not path.endswith(C_FILES):
            return frozenset()
        return self._outlines([oid])[oid].defined

    def nearest_definer(self, view: TreeView, near: str, keys: Iterable[str]) -> str | None:
        """Return the nearest file ``near`` includes (``included`` order) that defines one of
        the ``kind:name`` keys, or None. Each included file's names are a set asked in turn:
        building one table of every name a file can see cost more than the questions."""
        seen = view.visible.get(near)
        if seen is None:
            included = self.included(view, near)
            outlines = self._outlines(view.files[p] for p in included)
            seen = view.visible[near] = tuple((p, outlines[view.files[p]].defined)
                                              for p in included)
        wanted = tuple(keys)
        return next((path for path, defined in seen if any(k in defined for k in wanted)),
                    None)

    # --- name maps ---

    def names(self, view: TreeView) -> NameMap | DeltaMap:
        """Return where the exported names of a tree are defined."""
        parent = view.parent
        if view._names is None and parent is not None and parent._names is not None \
                and _depth(parent._names) < CHAIN_LIMIT:
            changed = {p: o for p, o in view.changes.items() if p.endswith(C_FILES)}
            view._names = _delta(parent._names, self._names_of(changed))
        if view._names is None:
            base = self._tree_map(view.spec.base)
            if view.spec.changes:
                changed = {p: o for p, o in view.spec.changes if p.endswith(C_FILES)}
                view._names = _delta(base, self._names_of(changed))
            else:
                view._names = base
        return view._names

    def _tree_map(self, tree: str) -> NameMap | DeltaMap:
        """Return the name map of a git tree: loaded, from a close tree already loaded, from
        the cache, from a close tree the cache holds, or built (once across processes: a lock
        serialises the building)."""
        tree = self.tree_id(tree)
        loaded = self._maps.get(tree)
        if loaded is not None:
            return loaded
        key = _tree_key(tree)
        for other, mapped in list(self._maps.items())[-2:]:
            close = self._delta_from(other, mapped, tree)
            if close is not None:
                self._keep_delta(key, other, close)
                return close
        with self.cache.lock("tree", key):
            built = self._cached_map(key)
            if built is None:
                close = self._kept_delta(key) or self._from_recent(tree, key)
                if close is not None:
                    return close
                files = self.view(TreeSpec(tree)).files
                c_files = {p: o for p, o in files.items() if p.endswith(C_FILES)}
                oids = list(dict.fromkeys(c_files.values()))
                outlines = self._outlines(oids, whole_tree=True)
                built = NameMap.build(c_files, ((oid, [(k[0], k[2:]) for k in o.defined])
                                                for oid, o in outlines.items()))
                self.cache.put("pack", key, {oid: o.to_plain() for oid, o in outlines.items()})
                self.cache.put("tree", key, built.to_plain())
                self._remember_recent(tree)
        return self._hold_map(tree, built)

    def _hold_map(self, tree: str, mapped: NameMap) -> NameMap:
        """Keep a tree's whole map in memory (the last ``MAPS_KEPT`` of them) and return it."""
        self._maps[tree] = mapped
        while len(self._maps) > MAPS_KEPT:
            self._maps.pop(next(iter(self._maps)))
        return mapped

    def _delta_from(self, other: str, mapped: NameMap, tree: str) -> DeltaMap | None:
        """Return a tree's map as a mapped tree's with the files between them changed, when
        few are (None otherwise)."""
        changes = gitstore.diff_trees(self.path, other, tree, C_FILES)
        if len(changes) > DELTA_LIMIT:
            return None
        return _delta(mapped, self._names_of(changes))

    def _names_of(self, changes: dict[str, str | None]) -> dict[str, frozenset[str] | None]:
        """Return the ``kind:name`` keys each changed file's new blob defines (None: a file
        taken away); the next commit of a range asks again for most of them: they come from
        memory."""
        outlines = self._outlines([o for o in dict.fromkeys(changes.values()) if o])
        return {p: (outlines[o].defined if o is not None else None) for p, o in changes.items()}

    def _keep_delta(self, key: str, base: str, delta: DeltaMap) -> None:
        """Keep a tree's map as its difference from a tree whose whole map the cache holds:
        the next run that starts on this tree loads that map and the difference, and neither
        lists the trees' differences nor reads the changed files' names again."""
        if isinstance(delta.base, NameMap):
            self.cache.put("delta", key, (base, sorted(delta.changed),
                                          {k: list(v) for k, v in delta.added.items()}))

    def _kept_delta(self, key: str) -> DeltaMap | None:
        """Return a tree's map kept as a difference (None: none kept, damaged, or its base's
        map is no longer in the cache)."""
        kept = self.cache.get("delta", key)
        if not isinstance(kept, tuple) or len(kept) != 3:
            return None
        base, changed, added = kept
        if not isinstance(base, str) or not isinstance(changed, list) or \
                not isinstance(added, dict):
            return None
        mapped = self._maps.get(base)
        if not isinstance(mapped, NameMap):
            mapped = self._cached_map(_tree_key(base))
        if mapped is None:
            return None
        return DeltaMap(self._hold_map(base, mapped), frozenset(changed),
                        _added={k: tuple(v) for k, v in added.items()})

    def _from_recent(self, tree: str, key: str) -> DeltaMap | None:
        """Return a tree's map from one of the last trees indexed in this repository, when one
        of them is close (a new commit re-indexes only the blobs it changed); keep it as a
        difference for the next run."""
        recent = self.cache.get("recent", _repo_key(self.ident))
        for other in recent if isinstance(recent, list) else []:
            if not isinstance(other, str) or other == tree:
                continue
            try:
                changes = gitstore.diff_trees(self.path, other, tree, C_FILES)
            except gitstore.GitError:
                continue
            if len(changes) > DELTA_LIMIT:
                continue
            mapped = self._cached_map(_tree_key(other))
            if mapped is not None:
                delta = _delta(self._hold_map(other, mapped), self._names_of(changes))
                self._keep_delta(key, other, delta)
                return delta
        return None

    def _remember_recent(self, tree: str) -> None:
        """Put a tree first among the last trees indexed in this repository."""
        key = _repo_key(self.ident)
        recent = self.cache.get("recent", key)
        kept = [t for t in recent if isinstance(t, str) and t != tree] \
            if isinstance(recent, list) else []
        self.cache.put("recent", key, [tree, *kept][:RECENT])

    def _cached_map(self, key: str) -> NameMap | None:
        """Return a tree's name map from the cache."""
        cached = self.cache.get("tree", key)
        if cached is None:
            return None
        try:
            return NameMap.from_plain(cached)
        except (TypeError, ValueError):
            return None


def _tree_key(tree: str) -> str:
    """Return a tree's cache key (the scanner's version is part of it)."""
    return f"{tree}{SCAN_VERSION:02x}"


def _repo_key(ident: str) -> str:
    """Return a repository's cache key (its path)."""
    return hashlib.sha1(ident.encode("utf-8", "surrogateescape"),
                        usedforsecurity=False).hexdigest()


def default_jobs() -> int:
    """Return the cores this process may use."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:
        return os.cpu_count() or 1
