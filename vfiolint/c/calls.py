"""The unit's call graph: who calls whom by name, and the call sites of a function."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from tree_sitter import Node

from vfiolint.c.symbols import Symbols
from vfiolint.c.syntax import call_name, function_name


@dataclass
class CallGraph:
    """Calls between the functions of one unit, by name (calls through pointers are not seen)."""

    symbols: Symbols
    _callees: dict[int, frozenset[str]] = field(default_factory=dict)
    _sites: dict[str, list[Node]] | None = None
    _calls: list[tuple[int, int, str]] | None = None

    def _all_calls(self) -> list[tuple[int, int, str]]:
        """Return every named call of the unit as (start, end, callee), in document order
        (found with the unit's other tables, in one query of the whole tree)."""
        if self._calls is None:
            nodes = self.symbols.calls()
            self._sites = {}
            self._calls = []
            for n in nodes:
                callee = call_name(n)
                if callee is not None:
                    self._sites.setdefault(callee, []).append(n)
                    self._calls.append((n.start_byte, n.end_byte, callee))
        return self._calls

    def callees(self, fn: Node) -> frozenset[str]:
        """Return the names a function calls directly."""
        if fn.id not in self._callees:
            calls = self._all_calls()
            k = bisect.bisect_left(calls, (fn.start_byte,))
            names = set()
            while k < len(calls) and calls[k][0] < fn.end_byte:
                if calls[k][1] <= fn.end_byte:
                    names.add(calls[k][2])
                k += 1
            self._callees[fn.id] = frozenset(names)
        return self._callees[fn.id]

    def sites(self, name: str) -> list[Node]:
        """Return every call_expression of the unit that calls ``name``."""
        self._all_calls()
        assert self._sites is not None
        return self._sites.get(name, [])

    def callers(self, fn: Node) -> list[Node]:
        """Return the unit's functions that call ``fn``."""
        own = function_name(fn)
        if not own:
            return []
        out: dict[int, Node] = {}
        for site in self.sites(own):
            caller = self.symbols.function_of(site)
            if caller is not None:
                out.setdefault(caller.id, caller)
        return list(out.values())

    def near(self, fn: Node) -> list[Node]:
        """Return the unit's functions a function calls and those that call it (one step;
        each is near the other)."""
        return [d for name in self.callees(fn) for d in self.symbols.by_name(name)] + \
            self.callers(fn)

    def ball(self, sources: list[Node], depth: int = 2) -> frozenset[int]:
        """Return the ids of the functions at most ``depth`` steps from some source: the
        functions whose ``neighbourhood`` holds a source (nearness goes both ways)."""
        seen = {fn.id for fn in sources}
        frontier = list(sources)
        for _ in range(depth):
            nxt = []
            for current in frontier:
                for other in self.near(current):
                    if other.id not in seen:
                        seen.add(other.id)
                        nxt.append(other)
            frontier = nxt
        return frozenset(seen)

    def neighbourhood(self, fn: Node | None, depth: int = 2) -> list[Node]:
        """Return a function with the unit's functions it calls and that call it, ``depth``
        steps each way: a hazard and its check are often split between a function and its
        helper or caller."""
        if fn is None:
            return [self.symbols.root]
        seen = {fn.id: fn}
        frontier = [fn]
        for _ in range(depth):
            nxt = []
            for current in frontier:
                for other in self.near(current):
                    if other.id not in seen:
                        seen[other.id] = other
                        nxt.append(other)
            frontier = nxt
        return list(seen.values())
