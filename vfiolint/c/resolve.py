"""The ``Definitions`` of a tree: a name resolved the way the compiler would find it first.

1. the file itself (``near``);
2. the files it includes, breadth first along the tree's include path (``c/includes.py``):
   the nearest header that defines the name;
3. a definition anywhere in the tree that the file could see: in a header, or a function of
   another ``.c`` file that is not ``static``.

At each step, definitions that say the same thing (the same macro body, the same members, the
same signature: a prototype and its definition) count as one. Different definitions at the
same step make the name *ambiguous*: the answer lists their places and finds nothing, so the
model never guesses.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TypeVar

from vfiolint.c.definitions import (
    FunctionDef,
    Lookup,
    MacroDef,
    RecordDef,
    TypedefDef,
    Where,
)
from vfiolint.c.index import Answer, Repository, TreeSpec, TreeView
from vfiolint.c.scan import BlobFacts, function, records

D = TypeVar("D", MacroDef, RecordDef, TypedefDef, FunctionDef)


def _macros(facts: BlobFacts, name: str) -> list[MacroDef]:
    """Return a file's definitions of a macro."""
    return [m for m in facts.macros if m.name == name]


def _records(facts: BlobFacts, tag: str) -> list[RecordDef]:
    """Return a file's definitions of a struct or union tag (inner records included)."""
    return [r for body in facts.records if body.tag == tag or tag in body.inner
            for r in records(body) if r.tag == tag]


def _typedefs(facts: BlobFacts, name: str) -> list[TypedefDef]:
    """Return a file's typedefs of a name."""
    return [t for t in facts.typedefs if t.name == name]


def _functions(facts: BlobFacts, name: str) -> list[FunctionDef]:
    """Return a file's definitions and prototypes of a function."""
    return [function(f) for f in facts.functions if f.name == name]


def _same(d: MacroDef | RecordDef | TypedefDef | FunctionDef) -> object:
    """Return what a definition says, without where it says it (and, for a function, without
    its parameter names or whether it is a prototype)."""
    if isinstance(d, FunctionDef):
        return (d.returns, d.returns_pointer,
                tuple((p.type, p.pointer, p.array) for p in d.params))
    return replace(d, where=Where("", 0))


def decide(found: list[D]) -> Lookup[D]:
    """Return the one thing a list of definitions says, or its places when they disagree."""
    if not found:
        return Lookup()
    distinct = {_same(d) for d in found}
    if len(distinct) == 1:
        best = [d for d in found if isinstance(d, FunctionDef) and d.definition]
        return Lookup(found=best[0] if best else found[0])
    return Lookup(ambiguous=tuple(dict.fromkeys(d.where for d in found)))


class TreeDefinitions:
    """The definitions of one tree, for the units read from it (see the module doc).

    ``aliases`` maps a unit's path as the user named it to its path in the tree (a C file
    checked in a work tree is named from the current folder)."""

    def __init__(self, repo: Repository, spec: TreeSpec,
                 aliases: tuple[tuple[str, str], ...] = ()) -> None:
        self.repo = repo
        self.spec = spec
        self.aliases = dict(aliases)
        self._key = f"{repo.ident}\0{spec.key}\0{sorted(self.aliases.items())!r}"
        self._answers: dict[tuple[str, str, str], Lookup[object]] = {}
        self._sources: dict[str, bytes | None] = {}

    @property
    def key(self) -> str:
        """Return the repository, the tree and its changes."""
        return self._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TreeDefinitions) and other._key == self._key

    def __repr__(self) -> str:
        return f"TreeDefinitions({self.spec.key[:12]})"

    @property
    def view(self) -> TreeView:
        """Return the tree's files."""
        return self.repo.view(self.spec)

    def path_of(self, near: str) -> str:
        """Return a unit's path in the tree."""
        return self.aliases.get(near, near)

    def macro(self, name: str, near: str) -> Lookup[MacroDef]:
        """Resolve a macro name."""
        return self._resolve("m", name, near, _macros, ("m",))

    def record(self, tag: str, near: str) -> Lookup[RecordDef]:
        """Resolve a struct or union tag."""
        return self._resolve("s", tag, near, _records, ("s",))

    def typedef(self, name: str, near: str) -> Lookup[TypedefDef]:
        """Resolve a typedef name."""
        return self._resolve("t", name, near, _typedefs, ("t",))

    def function(self, name: str, near: str) -> Lookup[FunctionDef]:
        """Resolve a function name to its signature."""
        return self._resolve("f", name, near, _functions, ("f", "p"))

    def source(self, path: str) -> bytes | None:
        """Return a file's text in this tree (read at once: the tree need not be listed)."""
        if path not in self._sources:
            self._sources[path] = self.repo.text_at(self.spec, self.path_of(path))
        return self._sources[path]

    def _resolve(self, kind: str, name: str, near: str,
                 pick: Callable[[BlobFacts, str], list[D]], kinds: Iterable[str]) -> Lookup[D]:
        """Look for a name in the file, then its includes, then the tree (module doc)."""
        path = self.path_of(near)
        memo = (kind, name, path)
        if memo in self._answers:
            return self._answers[memo]  # type: ignore[return-value]
        view = self.view
        handed = memo not in view.answers
        kept = self.repo.answer(view, memo)
        if kept is None:
            kept = view.answers[memo] = self._find(view, name, path, pick, kinds)
        elif handed and os.environ.get("VFIOLINT_CHECK_ANSWERS") and \
                self._find(view, name, path, pick, kinds).lookup != kept.lookup:  # as it is used
            raise AssertionError(f"an answer handed down to the next tree differs: {memo!r}")
        self._answers[memo] = kept.lookup  # type: ignore[assignment]
        return kept.lookup  # type: ignore[return-value]

    def _find(self, view: TreeView, name: str, path: str,
              pick: Callable[[BlobFacts, str], list[D]], kinds: Iterable[str]
              ) -> Answer:
        """Do the three steps of a lookup (each file is asked only when it defines the name),
        keeping the files whose definitions the answer read."""
        keys = frozenset(f"{k}:{name}" for k in kinds)
        own = self.repo.defined(view, path)
        read = frozenset((path,)) if any(k in own for k in keys) else frozenset()
        if read:
            found = self._in_file(view, path, name, pick)
            if found:
                return Answer(decide(found), keys, read)
        header = self.repo.nearest_definer(view, path, keys)
        if header is not None:  # an include defines it: the tree's other definers do not count
            return Answer(decide(self._in_file(view, header, name, pick)), keys, read | {header})
        names = self.repo.names(view)
        places = dict.fromkeys(p for k in kinds for p in names.lookup(k, name) if p != path)
        found = [d for p in places for d in self._in_file(view, p, name, pick)
                 if not (isinstance(d, FunctionDef) and d.static and not p.endswith(".h"))]
        return Answer(decide(found), keys, read | frozenset(places))

    def _in_file(self, view: TreeView, path: str, name: str,
                 pick: Callable[[BlobFacts, str], list[D]]) -> list[D]:
        """Return one file's definitions of a name, placed at their path."""
        facts = self.repo.file_facts(view, path)
        if facts is None:
            return []
        return [replace(d, where=Where(path, d.where.line)) for d in pick(facts, name)]
