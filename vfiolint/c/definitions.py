"""What the C model may ask of the code around a unit: the definitions of a tree.

A unit (one image of one file) answers most questions from itself. What it does not define —
a macro from a shared header, a struct declared elsewhere, a helper in another file — it asks
a ``Definitions`` provider, which resolves a name the way the compiler would find it first:
the file itself, then the headers it includes along the include path, then a unique
definition anywhere in the tree. A name defined in several places with no way to choose is
*ambiguous*: the provider says so and the model does not guess.

``NO_DEFINITIONS`` answers nothing: a hunk read without its repository.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Where:
    """Where a definition stands: repository path and 1-based line."""

    path: str
    line: int


@dataclass(frozen=True, slots=True)
class MacroDef:
    """A ``#define``: ``params`` is None for an object-like macro; ``body`` is the replacement
    text with line continuations joined."""

    name: str
    params: tuple[str, ...] | None
    body: str
    where: Where


@dataclass(frozen=True, slots=True)
class Member:
    """A struct or union member, or a function parameter: its name and declared type.

    ``type`` is the base type as written (``uint32_t``, ``struct pci_map``, ``unsigned long``);
    ``pointer`` counts the ``*`` of the declarator; ``array`` tells an array declarator."""

    name: str
    type: str
    pointer: int = 0
    array: bool = False


@dataclass(frozen=True, slots=True)
class RecordDef:
    """A struct or union with a body."""

    kind: str  # struct | union
    tag: str
    members: tuple[Member, ...]
    where: Where


@dataclass(frozen=True, slots=True)
class TypedefDef:
    """A typedef: the base type it names (``type``), with the pointer depth of its declarator,
    and the tag of the record when it names one (``typedef struct X {…} Y;``)."""

    name: str
    type: str
    pointer: int
    record: str | None
    where: Where


@dataclass(frozen=True, slots=True)
class FunctionDef:
    """A function's signature, from its definition when the tree has one, else a prototype;
    ``static`` tells a function no other file can call."""

    name: str
    returns: str
    returns_pointer: int
    params: tuple[Member, ...]
    definition: bool
    where: Where
    static: bool = False


@dataclass(frozen=True, slots=True)
class Lookup(Generic[T]):
    """The answer to a name: the definition found, or the places of an ambiguous name."""

    found: T | None = None
    ambiguous: tuple[Where, ...] = ()


class Definitions(Protocol):
    """A tree's definitions, resolved from the point of view of one file (``near``)."""

    @property
    def key(self) -> str:
        """Return a string that changes whenever any answer could (tree id, overlays)."""

    def macro(self, name: str, near: str) -> Lookup[MacroDef]:
        """Resolve a macro name."""

    def record(self, tag: str, near: str) -> Lookup[RecordDef]:
        """Resolve a struct or union tag."""

    def typedef(self, name: str, near: str) -> Lookup[TypedefDef]:
        """Resolve a typedef name."""

    def function(self, name: str, near: str) -> Lookup[FunctionDef]:
        """Resolve a function name to its signature."""

    def source(self, path: str) -> bytes | None:
        """Return a file's text in this tree (None when the tree has no such file)."""

    def __hash__(self) -> int:
        """Hash by ``key``: analysis results are cached per text and tree."""


class _Nothing:
    """The definitions of no tree: every name is unknown."""

    key = ""

    def macro(self, name: str, near: str) -> Lookup[MacroDef]:
        """Know no macro."""
        return Lookup()

    def record(self, tag: str, near: str) -> Lookup[RecordDef]:
        """Know no record."""
        return Lookup()

    def typedef(self, name: str, near: str) -> Lookup[TypedefDef]:
        """Know no typedef."""
        return Lookup()

    def function(self, name: str, near: str) -> Lookup[FunctionDef]:
        """Know no function."""
        return Lookup()

    def source(self, path: str) -> bytes | None:
        """Hold no file."""
        return None

    def __repr__(self) -> str:
        return "NO_DEFINITIONS"


NO_DEFINITIONS: Definitions = _Nothing()


class Recording:
    """A provider that remembers the names it could not resolve for being ambiguous, for the
    coverage of the image being matched (the engine wraps each image's provider in one)."""

    def __init__(self, inner: Definitions) -> None:
        self.inner = inner
        self.noted: set[str] = set()

    @property
    def key(self) -> str:
        """Return the wrapped provider's key."""
        return self.inner.key

    def __hash__(self) -> int:
        return hash(self.inner)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Recording) and other.inner == self.inner

    def _note(self, name: str, answer: Lookup[T]) -> Lookup[T]:
        """Remember a name whose answer is ambiguous; return the answer."""
        if answer.ambiguous:
            self.noted.add(name)
        return answer

    def macro(self, name: str, near: str) -> Lookup[MacroDef]:
        """Resolve a macro name."""
        return self._note(name, self.inner.macro(name, near))

    def record(self, tag: str, near: str) -> Lookup[RecordDef]:
        """Resolve a struct or union tag."""
        return self._note(f"struct {tag}", self.inner.record(tag, near))

    def typedef(self, name: str, near: str) -> Lookup[TypedefDef]:
        """Resolve a typedef name."""
        return self._note(name, self.inner.typedef(name, near))

    def function(self, name: str, near: str) -> Lookup[FunctionDef]:
        """Resolve a function name."""
        return self._note(f"{name}()", self.inner.function(name, near))

    def source(self, path: str) -> bytes | None:
        """Return a file's text in the tree."""
        return self.inner.source(path)

    def ambiguous(self) -> tuple[str, ...]:
        """Return the names noted so far, sorted."""
        return tuple(sorted(self.noted))


Question = tuple[str, str, str]  # (what is asked: macro, record, typedef, function, source; name; near)


class Logged:
    """A provider that keeps every question asked of it with its answer. What an image's
    analysis finds depends on its text and on these answers alone: the same text read in
    another tree whose answers to the same questions agree is judged the same (``agrees``)."""

    def __init__(self, inner: Definitions) -> None:
        self.inner = inner
        self.asked: dict[Question, object] = {}

    @property
    def key(self) -> str:
        """Return the wrapped provider's key."""
        return self.inner.key

    def __hash__(self) -> int:
        return hash(self.inner)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Logged) and other.inner == self.inner

    def _keep(self, question: Question, answer: T) -> T:
        """Keep a question's answer; return the answer."""
        self.asked.setdefault(question, answer)
        return answer

    def macro(self, name: str, near: str) -> Lookup[MacroDef]:
        """Resolve a macro name."""
        return self._keep(("macro", name, near), self.inner.macro(name, near))

    def record(self, tag: str, near: str) -> Lookup[RecordDef]:
        """Resolve a struct or union tag."""
        return self._keep(("record", tag, near), self.inner.record(tag, near))

    def typedef(self, name: str, near: str) -> Lookup[TypedefDef]:
        """Resolve a typedef name."""
        return self._keep(("typedef", name, near), self.inner.typedef(name, near))

    def function(self, name: str, near: str) -> Lookup[FunctionDef]:
        """Resolve a function name."""
        return self._keep(("function", name, near), self.inner.function(name, near))

    def source(self, path: str) -> bytes | None:
        """Return a file's text in the tree."""
        return self._keep(("source", path, ""), self.inner.source(path))


def agrees(asked: dict[Question, object], definitions: Definitions) -> bool:
    """Tell whether a tree answers each of some questions as it was answered before."""
    for (kind, name, near), answer in asked.items():
        now = definitions.source(name) if kind == "source" else getattr(definitions, kind)(
            name, near)
        if now != answer:
            return False
    return True


def note_ambiguous(definitions: Definitions, name: str) -> None:
    """Record on the image's coverage a name the model itself found ambiguous (a hook for the
    model: lookups through ``unit.definitions`` are recorded without it)."""
    if isinstance(definitions, Recording):
        definitions.noted.add(name)
