"""The text a query's match must hold: literals read from its ``#eq?``, ``#any-of?`` and
``#match?`` predicates, so that a query of a whole unit runs only on the file-scope items
(functions, declarations, preprocessor blocks) whose text holds one of them.

Every match of a pattern satisfies all of its predicates, and a predicate's capture (one
the pattern always captures: not in one branch of an alternation, not optional) lies within
the item the match lies in; so an item that holds none of a pattern's needed texts holds no
match of it. A query is restricted only when that argument holds for each of its patterns:
each needs some text, and its root is one named node (not ``_``, an alternation or the unit
itself) with nothing beside it, so a match never spans two items.
"""

from __future__ import annotations

import re
import re._constants as sre_constants  # type: ignore[import-not-found]  # the parser's opcodes
import re._parser as sre_parse  # type: ignore[import-not-found]
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import tree_sitter
from tree_sitter import Node

from vfiolint.c import cparse
from vfiolint.c.facts import Facts
from vfiolint.rules.predicates import CUSTOM_RE, Captures, split_patterns

MIN_LENGTH = 2  # a needed text shorter than this narrows nothing
PREDICATE_RE = re.compile(
    r'\(\s*#(eq|any-of|match)\?\s+@([\w.-]+)((?:\s+"(?:[^"\\]|\\.)*")+)\s*\)')
STRING_RE = re.compile(r'"((?:[^"\\]|\\.)*)"')
ROOT_RE = re.compile(r"\s*\(\s*(?:\(\s*)?([a-z][a-z0-9_]*)\b")
WILDCARD_FIELD_RE = re.compile(r"\s*\(\s*(?:\(\s*)?_\s+[a-z][a-z0-9_]*\s*:")
BARE_RE = re.compile(r"\s*\(\s*\(\s*([a-z][a-z0-9_]*)\s*\)\s*@([\w.-]+)\s*\)\s*")


@dataclass(frozen=True, slots=True)
class Needed:
    """Texts of which a match holds at least one; compared case-blind when ``fold``."""

    texts: tuple[bytes, ...]
    fold: bool


def _unescape(text: str) -> str:
    """Undo a query string's escapes (``\\"``, ``\\\\``, ``\\n``)."""
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m[1], m[1]), text)


def _selectivity(texts: frozenset[str]) -> tuple[int, int]:
    """Rank a set of needed texts: the longer its shortest text, the fewer items hold one
    (a set with a text too short to narrow anything ranks below any other)."""
    shortest = min(map(len, texts), default=0)
    return (shortest, -len(texts)) if shortest >= MIN_LENGTH else (-1, 0)


def _most_selective(options: list[frozenset[str]]) -> frozenset[str] | None:
    """Pick the set of needed texts that narrows most, if any narrows."""
    best = max(options, key=_selectivity, default=None)
    return best if best is not None and _selectivity(best)[0] >= 0 else None


MAX_EXACT = 64  # strings an exact part of a regular expression may stand for, at most


def _union(branches: list[frozenset[str] | None]) -> frozenset[str] | None:
    """Return what one of several branches gives (None if one of them gives nothing)."""
    out: frozenset[str] = frozenset()
    for branch in branches:
        if branch is None:
            return None
        out |= branch
    return out


def _exact(items: Any) -> frozenset[str] | None:
    """Return the strings a parsed sequence matches when they are few and fixed
    (``p(read|write)`` is pread or pwrite), else None."""
    out = frozenset({""})
    for op, av in items:
        if op is sre_constants.LITERAL:
            part: frozenset[str] | None = frozenset({chr(av)})
        elif op is sre_constants.SUBPATTERN and not (av[1] | av[2]):
            part = _exact(av[-1])
        elif op is sre_constants.BRANCH:
            part = _union([_exact(b) for b in av[1]])
        else:
            part = None
        if part is None or len(out) * len(part) > MAX_EXACT:
            return None
        out = frozenset(a + b for a in out for b in part)
    return out


def _required(items: Any) -> frozenset[str] | None:
    """Return texts of which every match of a parsed sequence holds one (None: unknown): the
    most selective of its fixed runs (``p(read|write)64`` holds pread64 or pwrite64) and of
    what each of its parts needs."""
    options: list[frozenset[str]] = []
    run: list[tuple[object, object]] = []

    def close_run() -> None:
        exact = _exact(run) if run else None
        if exact:
            options.append(exact)
        run.clear()

    for op, av in items:
        if _exact([(op, av)]) is not None:  # a fixed piece extends the run, while it stays small
            run.append((op, av))
            if _exact(run) is None:
                run.pop()
                close_run()
                run.append((op, av))
            continue
        close_run()
        found: frozenset[str] | None = None
        if op is sre_constants.SUBPATTERN:  # a group with flags of its own is left alone
            flags = av[1] | av[2]
            found = None if flags & re.IGNORECASE else _required(av[-1])
        elif op is sre_constants.BRANCH:
            found = _union([_required(b) for b in av[1]])
        elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT,
                    sre_constants.POSSESSIVE_REPEAT):
            low, _high, sub = av
            found = _required(sub) if low >= 1 else None
        if found is not None:
            options.append(found)
    close_run()
    return _most_selective(options)


def regex_needs(pattern: str) -> tuple[frozenset[str], bool] | None:
    """Return texts of which every string a regular expression matches (``re.search``)
    holds one, and whether they are compared case-blind (ASCII's case); None when nothing is
    needed."""
    try:
        parsed = sre_parse.parse(pattern)
    except re.error:
        return None
    fold = bool(parsed.state.flags & re.IGNORECASE)
    found = _required(parsed)
    if found is None or (fold and not all(t.isascii() for t in found)):
        return None
    return (frozenset(t.lower() for t in found) if fold else found), fold


def pattern_needs(pattern: str, always: frozenset[str]) -> Needed | None:
    """Return what every match of one query pattern holds (None: nothing known); only the
    predicates of captures in ``always`` (captured by every match) count."""
    root = ROOT_RE.match(pattern)
    if root is None or root.group(1) == "translation_unit":
        return None
    options: list[tuple[frozenset[str], bool]] = []
    for m in PREDICATE_RE.finditer(pattern):
        if m.group(2) not in always:
            continue
        strings = [_unescape(s) for s in STRING_RE.findall(m.group(3))]
        if m.group(1) in {"eq", "any-of"}:
            options.append((frozenset(strings), False))
        elif len(strings) == 1 and (needs := regex_needs(strings[0])) is not None:
            options.append(needs)
    best = max(options, key=lambda o: _selectivity(o[0]), default=None)
    if best is None or _selectivity(best[0])[0] < 0:
        return None
    return Needed(tuple(sorted(t.encode() for t in best[0])), best[1])


def _always(query: tree_sitter.Query, pattern: int) -> frozenset[str]:
    """Return the captures every match of a pattern has (quantifier one, or one or more)."""
    out = set()
    for i in range(query.capture_count):
        try:
            quantifier = query.capture_quantifier(pattern, i)
        except SystemError:  # the capture is not in this pattern
            continue
        if quantifier in {"", "+"}:
            out.add(query.capture_name(i))
    return frozenset(out)


@cache
def query_needs(query_text: str) -> tuple[Needed, ...] | None:
    """Return, per pattern of a query, what its matches hold; None when some pattern may
    match anywhere, or across file-scope items."""
    query = cparse.query(query_text)
    patterns = split_patterns(query_text)
    if len(patterns) != query.pattern_count:
        return None
    found = []
    for index, text in enumerate(patterns):
        needs = None if query.is_pattern_non_local(index) else pattern_needs(
            text, _always(query, index))
        if needs is None:
            return None
        found.append(needs)
    return tuple(found)


@cache
def rooted_only_at(query_text: str, kind: str) -> bool:
    """Tell whether every pattern of a query is one node of a kind (``function_definition``),
    alone at its top: each match then lies in one such node."""
    query = cparse.query(query_text)
    patterns = split_patterns(query_text)
    return len(patterns) == query.pattern_count and all(
        not query.is_pattern_non_local(i) and (m := ROOT_RE.match(text)) is not None
        and m.group(1) == kind for i, text in enumerate(patterns))


@cache
def within_items(query_text: str) -> bool:
    """Tell whether every match of a query lies in one file-scope item: each pattern is local
    and its root is one named node other than the unit itself, or a wildcard with a field (the
    unit has none), so querying the items one by one finds what querying the unit finds."""
    query = cparse.query(query_text)
    patterns = split_patterns(query_text)
    if len(patterns) != query.pattern_count:
        return False
    for index, text in enumerate(patterns):
        root = ROOT_RE.match(text)
        named = root is not None and root.group(1) != "translation_unit"
        if query.is_pattern_non_local(index) or not (
                named or (root is None and WILDCARD_FIELD_RE.match(text))):
            return False
    return True


@cache
def bare_kind(query_text: str) -> tuple[str, str] | None:
    """Return (kind, capture) when a query is one pattern that captures every node of one kind,
    tested only by ``#vf-`` predicates (``((function_definition) @context (#vf-vfio-code?
    @context))``): its matches are then the unit's nodes of that kind, one each."""
    patterns = split_patterns(query_text)
    if len(patterns) != 1:
        return None
    found = BARE_RE.fullmatch(CUSTOM_RE.sub(" ", patterns[0]))
    return (found.group(1), found.group(2)) if found is not None else None


def matches(query_text: str, node: Node, facts: Facts) -> Iterator[tuple[int, Captures]]:
    """Yield the matches of a query below a node, as ``QueryCursor.matches`` gives them,
    searching only the places that can hold one (``places``)."""
    cursor = tree_sitter.QueryCursor(cparse.query(query_text))
    for place in places(query_text, node, facts):
        yield from cursor.matches(place)


def places(query_text: str, node: Node, facts: Facts) -> list[Node]:
    """Return where to run a query to find its matches below ``node``: for the unit's root,
    only the file-scope items that hold what each match holds; else the node itself."""
    if node.id != facts.root.id:
        return [node]
    needs = query_needs(query_text)
    if needs is None:
        return [node]
    found: set[int] = set()
    for need in needs:
        found |= facts.items_holding(need.texts, need.fold)
    return facts.items(found)
