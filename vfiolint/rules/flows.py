"""Hazards stated as flows (the ``[[flow]]`` tables of a rule file, ``flowspec.py``), judged
with the C model's value flow and guard conditions."""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property

from tree_sitter import Node

from vfiolint.c import cparse
from vfiolint.c.flow import Step, Trace, origin_locs
from vfiolint.c.guards import Guard, condition_atoms
from vfiolint.c.syntax import contains, head_row, text_of, unwrap, walk
from vfiolint.c.types import narrower_than
from vfiolint.rules import literals
from vfiolint.rules.flowspec import FlowSpec
from vfiolint.rules.predicates import Captures, Context, custom_predicates, holds


@dataclass(frozen=True, slots=True)
class FlowMatch:
    """A hazard a flow spec found: the node to report, message fields, the trace that shows
    why, whether it is one confidence step less sure, and the text that identifies it."""

    node: Node
    fields: dict[str, str]
    trace: Trace
    lower: bool
    identity: str
    message: str | None = None


@dataclass(frozen=True, slots=True)
class _Hit:
    """One match of a spec's query: its main node and its captures."""

    node: Node
    captures: Captures
    settings: dict[str, object]


def _hits(query_text: str, capture: str, node: Node, ctx: Context,
          where: Callable[[Node], bool] | None = None) -> list[_Hit]:
    """Run one of a spec's queries below a node, custom predicates applied; with ``where``,
    only on the matches whose main node it keeps (asked first: it is the cheaper test)."""
    query = cparse.query(query_text)
    checks = custom_predicates(query_text)
    out = []
    for pattern, captures in literals.matches(query_text, node, ctx.facts):
        if where is not None and (not captures.get(capture) or not where(captures[capture][0])):
            continue
        if not holds(ctx, checks[pattern], captures) or not captures.get(capture):
            continue
        out.append(_Hit(captures[capture][0], captures, dict(query.pattern_settings(pattern))))
    return out


def _key(node: Node) -> tuple[int, int]:
    """Identify a node by its byte range."""
    return node.start_byte, node.end_byte


def _fields(captures: Captures) -> dict[str, str]:
    """Return message fields from captures."""
    from vfiolint.c.syntax import squash

    return {name: squash(text_of(nodes[0]))[:60] for name, nodes in captures.items() if nodes}


@dataclass
class FlowJudge:
    """Judges one flow spec on one unit."""

    spec: FlowSpec
    ctx: Context
    _sanitizing: dict[tuple[int, bool, int | None, bool], bool] = field(default_factory=dict)
    _overrides: dict[tuple[object, int, int | None], list[tuple[Node, frozenset[int]]]] = \
        field(default_factory=dict)
    _contexts: dict[int | None, bool] = field(default_factory=dict)  # function id -> in context
    _places: dict[int, bool] = field(default_factory=dict)  # node id -> the context matches
    _barriers_at: dict[int, list[Node]] = field(default_factory=dict)  # place id -> barriers

    @cached_property
    def sinks(self) -> dict[tuple[int, int], _Hit]:
        """Return the sink matches of the unit by node range."""
        if self.spec.sinks is None:
            return {}
        return {_key(h.node): h for h in _hits(self.spec.sinks, "sink", self.ctx.facts.root,
                                               self.ctx)}

    @cached_property
    def log_barriers(self) -> list[Node]:
        """Return the call sites of the configuration's own logging functions (barriers)."""
        return sorted((n for name in self.ctx.log_functions
                       for n in self.ctx.facts.calls.sites(name)),
                      key=lambda n: (n.start_byte, -n.end_byte))

    def spec_barriers_near(self, node: Node) -> list[Node]:
        """Return the barrier nodes the spec's own query finds in the place of a node (its
        function, or the file-scope item that holds it): a barrier that contains the node lies
        there. Asked once per place, and only of places a trace reaches."""
        if self.spec.barriers is None:
            return []
        place = self.ctx.facts.place_of(node)
        found = self._barriers_at.get(place.id)
        if found is None:
            found = self._barriers_at[place.id] = [
                h.node for h in _hits(self.spec.barriers, "barrier", place, self.ctx)]
        return found

    def _clears(self, trace: Trace, end: str) -> bool:
        """Tell whether a trace ends where the spec says its whole source is harmless (a
        barrier counts only when the spec's own query found it, not a configured log call)."""
        if end not in self.spec.clear_ends:
            return False
        return end != "barrier" or any(contains(b, trace[-1].node)
                                       for b in self.spec_barriers_near(trace[-1].node))

    def is_sink(self, node: Node) -> bool:
        """Tell whether a node is a sink."""
        return _key(node) in self.sinks

    def is_barrier(self, node: Node) -> bool:
        """Tell whether a node lies within a barrier (an argument of a log call)."""
        return any(contains(b, node) for b in self.log_barriers) or \
            any(contains(b, node) for b in self.spec_barriers_near(node))

    # Gates and sanitisers ----------------------------------------------------------------------

    def _atom_matches(self, query_text: str, capture: str, atom: Node, truth: bool,
                      default: str) -> _Hit | None:
        """Return the match of a query that is this atom (with the truth the pattern wants)."""
        for hit in _hits(query_text, capture, atom, self.ctx):
            if _key(unwrap(hit.node)) != _key(unwrap(atom)):
                continue
            want = str(hit.settings.get("holds", default))
            if want == "any" or (want == "true") == truth:
                return hit
        return None

    def gate_of(self, node: Node, depth: int = 1) -> tuple[Guard, Captures] | None:
        """Return the gate atom that guards a node, if any, with the gate's captures."""
        if self.spec.gate is None:
            return None
        for guard in self.ctx.facts.guards(node):
            if contains(guard.atom, node):
                continue  # the node is part of the test itself
            if any(contains(guard.atom, sink.node) for sink in self.sinks.values()):
                continue  # a test that is itself the operation (its error check) chooses nothing
            hit = self._atom_matches(self.spec.gate, "gate", guard.atom, guard.holds,
                                     self.spec.gate_holds)
            if hit is not None:
                return guard, hit.captures
        if depth > 0:  # a helper's body is gated where the helper is called
            from vfiolint.c.syntax import function_name

            fn = self.ctx.facts.function_of(node)
            name = function_name(fn) if fn is not None else None
            for site in self.ctx.facts.calls.sites(name) if name else []:
                found = self.gate_of(site, depth - 1)
                if found is not None:
                    return found
        return None

    def _sanitizes(self, atom: Node, truth: bool, value: Node | None,
                   polarity: bool = True) -> bool:
        """Tell whether a guard atom (or what the helper it calls tests) is a sanitiser (cached
        per atom, truth and value: traces share their guards)."""
        key = (atom.id, truth, value.id if value is not None else None, polarity)
        found = self._sanitizing.get(key)
        if found is None:
            found = self._sanitizing[key] = self._atom_sanitizes(atom, truth, value, polarity)
        return found

    def _atom_sanitizes(self, atom: Node, truth: bool, value: Node | None,
                        polarity: bool = True) -> bool:
        """Tell whether a guard atom (or what the helper it calls tests) is a sanitiser, and,
        with ``same_value``, one about the given value."""
        assert self.spec.sanitizers is not None
        places = [atom, *self.ctx.facts.helper_conditions(atom)]
        for place in places:
            for hit in _hits(self.spec.sanitizers, "sanitizer", place, self.ctx):
                want = str(hit.settings.get("holds", "any"))
                if polarity and place is atom and want != "any" and (want == "true") != truth:
                    continue
                if not (contains(atom, hit.node) or place is not atom):
                    continue
                if self._checks(hit, value):
                    return True
        return False

    def _around_places(self, nodes: list[Node]) -> list[Node]:
        """Return where ``around`` sanitisers count: the neighbourhood of the first node, or
        with ``around_depth = 0`` the functions the nodes are in."""
        if self.spec.around_depth > 0:
            return [fn for node in nodes[:1]
                    for fn in self.ctx.facts.neighbourhood(node, self.spec.around_depth)]
        found = {fn.id: fn for node in nodes
                 if (fn := self.ctx.facts.function_of(node)) is not None}
        return list(found.values())

    def _checks(self, hit: _Hit, value: Node | None) -> bool:
        """Tell whether a sanitiser checks the value: with ``same_value``, its ``@checked``
        must hold the same value (one that captures none checks nothing)."""
        if value is None or self.spec.same_value is None:
            return True
        checked = hit.captures.get("checked")
        return checked is not None and bool(checked) and self._same_value(checked[0], value)

    def _about(self, hit: _Hit, value: Node | None) -> bool:
        """Tell whether an ``around`` sanitiser speaks of the value: with ``same_value``, one
        that captures ``@checked`` must check the same value (one without speaks of all)."""
        checked = hit.captures.get("checked")
        if value is None or self.spec.same_value is None or not checked:
            return True
        return self._same_value(checked[0], value)

    def _same_value(self, a: Node, b: Node) -> bool:
        """Tell whether two expressions hold the same value, by the locations they come from."""
        flow = self.ctx.facts.flow
        if bool(origin_locs(flow, a) & origin_locs(flow, b)) or \
                text_of(unwrap(a)) == text_of(unwrap(b)):
            return True
        if not self.spec.same_root:
            return False
        from vfiolint.c.syntax import root_identifier

        root_a, root_b = root_identifier(a), root_identifier(b)
        if root_a is None or root_b is None or (root_a == unwrap(a) and root_b == unwrap(b)):
            return False
        return bool(origin_locs(flow, root_a) & origin_locs(flow, root_b)) or \
            text_of(root_a) == text_of(root_b)

    def _overridden(self, nodes: list[Node], value: Node | None) -> bool:
        """Tell whether a location on the way is given *another* value under a sanitiser:
        the code tells the cases apart (``size = bar->size; if (msix_bar && !mappable) size =
        …;``), which a flow-insensitive trace cannot follow."""
        flow = self.ctx.facts.flow
        on_trace = [n for n in nodes]
        last = nodes[-1] if nodes else None
        for node in nodes:
            loc = flow.loc_of(node)
            if loc is None:
                continue
            here = self.ctx.facts.function_of(node)
            if here is None:
                continue
            shared = {g.atom.id for g in self.ctx.facts.guards(node)}
            for definition, atoms in self._sanitised_defs(loc, here, value):
                if any(contains(definition, n) or contains(n, definition) for n in on_trace):
                    continue  # the definition the trace itself went through
                if last is not None and definition.start_byte > last.start_byte:
                    continue  # a retry after the operation: the first try went ahead
                if not flow._reaches(definition, node):
                    continue  # a later store (an error path's reset) gives it no other value
                if atoms - shared:  # a test that guards the trace as well tells no cases apart
                    return True
        return False

    def _sanitised_defs(self, loc: object, fn: Node, value: Node | None
                        ) -> list[tuple[Node, frozenset[int]]]:
        """Return the definitions of a location in a function that a sanitiser guards, each
        with the guard atoms that sanitise it."""
        key = (loc, fn.id, value.id if value is not None else None)
        found = self._overrides.get(key)
        if found is None:
            flow = self.ctx.facts.flow
            found = []
            for _, d in flow.defs(loc):  # type: ignore[arg-type]
                if self.ctx.facts.function_of(d) != fn:
                    continue
                atoms = frozenset(g.atom.id for g in self.ctx.facts.guards(d)
                                  if self._sanitizes(g.atom, g.holds, value, polarity=False))
                if atoms:
                    found.append((d, atoms))
            self._overrides[key] = found
        return found

    def sanitized(self, nodes: list[Node], value: Node | None, depth: int = 2) -> bool:
        """Tell whether a sanitiser guards any of the nodes (or, for ``around``, sits near
        them); a function all of whose callers in the unit are guarded (about the same value,
        with ``same_value``) counts as guarded."""
        if self.spec.around is not None and any(
                self._about(hit, value) for fn in self._around_places(nodes)
                for hit in _hits(self.spec.around, "sanitizer", fn, self.ctx)):
            return True
        if self.spec.sanitizers is None:
            return False
        if self.spec.sanitize == "around":
            return any(_hits(self.spec.sanitizers, "sanitizer", fn, self.ctx)
                       for node in nodes for fn in self.ctx.facts.neighbourhood(node))
        if self.spec.sanitize == "function":
            return self._function_sanitized(nodes, value)
        for node in nodes:
            for guard in self.ctx.facts.guards(node):
                if self._sanitizes(guard.atom, guard.holds, value):
                    return True
        if self._overridden(nodes, value):
            return True
        if depth == 0:
            return False
        functions = {fn.id: fn for node in nodes
                     if (fn := self.ctx.facts.function_of(node)) is not None}
        for fn in functions.values():
            from vfiolint.c.syntax import function_name

            name = function_name(fn)
            sites = self.ctx.facts.calls.sites(name) if name else []
            if sites and all(self.sanitized([site], self._value_at(site, value),
                                            depth - 1) for site in sites):
                return True
        return False

    def _value_at(self, site: Node, value: Node | None) -> Node | None:
        """Return what a caller's guard must be about: the same value (by origin, through the
        call's arguments), or, with ``same_root``, the argument a call passes for the
        parameter the value starts from (a caller's test of another request does not bound
        this one)."""
        if not self.spec.same_root or value is None:
            return value
        from vfiolint.c.syntax import arguments, root_identifier

        root = root_identifier(value)
        declared = self.ctx.facts.symbols.lookup(text_of(root), root) if root else None
        args = arguments(site)
        if declared is None or declared.kind != "param" or declared.index >= len(args):
            return site  # no parameter leads there: only a test of the call itself counts
        return args[declared.index]

    # Judging ----------------------------------------------------------------------------------

    def judge(self) -> list[FlowMatch]:
        """Return the hazards this spec finds in the unit."""
        spec = self.spec
        if spec.sources is not None:
            return self._judge_sources()
        out = []
        for hit in self._sinks_in_context():
            gate = self.gate_of(hit.node)
            if spec.gate is not None and gate is None:
                continue
            nodes = [hit.node]
            if gate is not None:  # where the tested value came from may hold the check
                nodes += self.ctx.facts.flow.back_nodes(gate[0].atom)
            if self.sanitized(nodes, self._value(hit.captures)):
                continue
            cond = self._condition_of(hit.node)
            if cond is not None and self._condition_sanitized(cond):
                continue  # a test that is itself a decision is judged by all of it
            out.append(self._match(hit.node, hit.captures, None, gate, (Step(
                hit.node, text_of(hit.node)[:60], "sink"),), False))
        return out + self._evidence_only(set())

    def _function_sanitized(self, nodes: list[Node], value: Node | None) -> bool:
        """Tell whether the function of any of the nodes, or one of the unit's functions it
        calls, holds a sanitiser (about the same value, with ``same_value``) anywhere."""
        assert self.spec.sanitizers is not None
        facts = self.ctx.facts
        functions = {fn.id: fn for node in nodes if (fn := facts.function_of(node)) is not None}
        for fn in functions.values():
            places = [fn, *(d for name in sorted(facts.calls.callees(fn))
                            for d in facts.symbols.by_name(name)[:1] if d.id != fn.id)]
            for place in places:
                if any(self._checks(hit, value)
                       for hit in _hits(self.spec.sanitizers, "sanitizer", place, self.ctx)):
                    return True
        return False

    def _value(self, captures: Captures) -> Node | None:
        """Return the capture the sanitiser's ``@checked`` must share a value with."""
        name = self.spec.same_value
        nodes = captures.get(name.lstrip("@")) if name else None
        return nodes[0] if nodes else None

    def _in_context(self, node: Node) -> bool:
        """Tell whether the neighbourhood matches the spec's context query (if it has one;
        once per function)."""
        if self.spec.context is None:
            return True
        fn = self.ctx.facts.function_of(node)
        key = fn.id if fn is not None else None
        found = self._contexts.get(key)
        if found is None:
            whole = self._context_functions
            if whole is None:
                found = any(self._context_at(place)
                            for place in self.ctx.facts.neighbourhood(node))
            else:  # the functions near a matching one, found once from those
                found = bool(whole) if fn is None else fn.id in self._context_ball
            self._contexts[key] = found
        return found

    @cached_property
    def _context_ball(self) -> frozenset[int]:
        """Return the ids of the functions within two calls of a function the context matches
        (``_context_functions``): those whose neighbourhood is in context."""
        whole = self._context_functions
        assert whole is not None
        functions = [f for f in self.ctx.facts.symbols.functions() if f.id in whole]
        return self.ctx.facts.calls.ball(functions) if functions else frozenset()

    def _context_at(self, place: Node) -> bool:
        """Tell whether the spec's context query matches in one function (once each: a
        function is in the neighbourhood of its callers and callees too)."""
        assert self.spec.context is not None
        found = self._places.get(place.id)
        if found is None:
            found = self._places[place.id] = bool(
                _hits(self.spec.context, "context", place, self.ctx))
        return found

    @cached_property
    def _context_functions(self) -> frozenset[int] | None:
        """Return the ids of the functions in which the spec's context query matches, from
        one query of the unit, when each of its patterns is a whole function definition (None
        otherwise). Empty, no neighbourhood is in context: none is built."""
        assert self.spec.context is not None
        if not literals.rooted_only_at(self.spec.context, "function_definition"):
            return None
        up = self.ctx.facts.symbols.parent
        found: set[int] = set()
        for hit in self._context_hits():
            node: Node | None = hit  # the function, or a node in it: every function
            while node is not None:  # around it holds the match
                if node.type == "function_definition":
                    found.add(node.id)
                node = up(node)
        return frozenset(found)

    def _context_hits(self) -> list[Node]:
        """Return the nodes the context query matches in the unit. A query that is every
        function definition, tested by ``#vf-`` predicates, is asked of the unit's functions
        (known already) rather than run over the whole tree."""
        assert self.spec.context is not None
        if literals.bare_kind(self.spec.context) != ("function_definition", "context"):
            return [h.node for h in _hits(self.spec.context, "context", self.ctx.facts.root,
                                          self.ctx)]
        checks = custom_predicates(self.spec.context)[0]
        return [fn for fn in self.ctx.facts.symbols.functions()
                if holds(self.ctx, checks, {"context": [fn]})]

    def _context_places(self) -> list[Node]:
        """Return where the sinks in context can lie: the whole unit; or, when the context is
        made of whole functions and each sink match lies in one file-scope item, the items
        that are not functions (in context when any function is) and those that hold a
        function in context; nowhere when no function is in context."""
        root = self.ctx.facts.root
        whole = self._context_functions
        if whole is None or self.spec.sinks is None or not literals.within_items(self.spec.sinks):
            return [root]
        if not whole:
            return []
        ball = self._context_ball
        starts = sorted(f.start_byte for f in self.ctx.facts.symbols.functions() if f.id in ball)
        items = literals.places(self.spec.sinks, root, self.ctx.facts)
        if len(items) == 1 and items[0].id == root.id:
            items = root.children
        return [item for item in items if item.type != "function_definition" or (
            (k := bisect.bisect_left(starts, item.start_byte)) < len(starts)
            and starts[k] < item.end_byte)]

    def _sinks_in_context(self) -> list[_Hit]:
        """Return the sinks whose neighbourhood matches the spec's context, in the order of
        ``sinks``. Without a gate nothing else asks for the other sinks: the context, cheap
        and the same for every match of a node, is then asked before the custom predicates,
        which run only on the sinks in context."""
        if self.spec.context is None or self.spec.gate is not None or "sinks" in self.__dict__ \
                or self.spec.sinks is None:
            return [h for h in self.sinks.values() if self._in_context(h.node)]
        hits = [h for place in self._context_places()
                for h in _hits(self.spec.sinks, "sink", place, self.ctx, self._in_context)]
        return list({_key(h.node): h for h in hits}.values())

    def _judge_sources(self) -> list[FlowMatch]:
        """Follow every source forward to its sinks."""
        spec = self.spec
        assert spec.sources is not None
        sources = _hits(spec.sources, "source", self.ctx.facts.root, self.ctx)
        if sources and spec.gate is None and set(spec.ends) | set(spec.lower) <= {"sink"} \
                and not self.sinks:
            return []  # only a sink ends a trace that counts, and the unit has none
        out: list[FlowMatch] = []
        gated: set[tuple[int, int]] = set()
        for src in sources:
            if not self._in_context(src.node):
                continue
            gate = self.gate_of(src.node)
            if spec.gate is not None:
                if gate is None:
                    continue
                gated.add(_key(gate[0].atom))
            value = self._value(src.captures)
            best: dict[tuple[int, int], FlowMatch] = {}
            traces = self._traces(src.node)
            if any(self._clears(trace, end) for trace, end in traces):
                continue  # one use ends where the whole source is harmless
            for trace, end in traces:
                if end == "dead" and "discarded" in (*spec.ends, *spec.lower) and \
                        self._discarded(trace[-1].node):
                    end = "discarded"
                counted = end == "sink" or end in spec.ends or end in spec.lower
                if not counted or (end == "dead" and not self._out_of_view(trace[-1].node)):
                    continue
                # A type on the way matters only to a spec that asks about narrowing.
                narrowing = self._narrowing(trace, src.captures) if "narrowing" in (
                    spec.requires, spec.report) else None
                if spec.requires == "narrowing" and narrowing is None:
                    continue
                if self.sanitized([s.node for s in trace], value):
                    continue
                lower = end in spec.lower and end not in spec.ends and end != "sink"
                match = self._match(src.node, src.captures, narrowing, gate, trace, lower,
                                    end)
                key = _key(match.node)
                if key not in best or (best[key].lower and not match.lower):
                    best[key] = match
            out += best.values()
        return out + self._evidence_only(gated)

    def _traces(self, node: Node) -> list[tuple[Trace, str]]:
        """Return the forward traces of a source (a source that is itself a sink included)."""
        traces = self.ctx.facts.flow.forward(node, self.is_sink, self.is_barrier,
                                             arithmetic=self.spec.arithmetic,
                                             pointers=self.spec.pointers,
                                             members=self.spec.members,
                                             kills=self.spec.kills)
        if self.is_sink(node):  # passed straight to a sink (which may be the unit's wrapper)
            hop = self.ctx.facts.flow.into_sink(node)[1:]  # the source is the sink
            traces.append(((Step(node, text_of(node)[:60], "source"), *hop), "sink"))
        return traces

    def _discarded(self, node: Node) -> bool:
        """Tell whether a value is thrown away where it is made: the expression (through
        parentheses and casts) is a statement of its own."""
        up = self.ctx.facts.symbols.parent
        parent = up(node)
        while parent is not None and parent.type in {"parenthesized_expression",
                                                     "cast_expression"}:
            parent = up(parent)
        return parent is not None and parent.type == "expression_statement"

    def _narrowing(self, trace: Trace, captures: Captures) -> Step | None:
        """Return the first step of a trace whose type is narrower than the value."""
        kind_capture = self.spec.narrowing_kind
        nodes = captures.get(kind_capture.lstrip("@")) if kind_capture else None
        kind = text_of(nodes[0]) if nodes else "size"
        for step in trace[1:]:
            if step.note in {"cast", "stored", "passed", "returned"} and step.type is not None \
                    and narrower_than(kind, step.type):
                return step
        return None

    def _evidence_only(self, gated: set[tuple[int, int]]) -> list[FlowMatch]:
        """Report gates whose gated code a hunk cuts off, where the function shows evidence
        of the hazard: one confidence step lower."""
        spec = self.spec
        unit = self.ctx.unit
        if spec.gate is None or spec.evidence is None or unit.origin.value != "hunks":
            return []
        out = []
        for hit in _hits(spec.gate, "gate", self.ctx.facts.root, self.ctx):
            if _key(hit.node) in gated:
                continue
            fn = self.ctx.facts.function_of(hit.node)
            if fn is None or not self._cut_short(fn):
                continue
            if not _hits(spec.evidence, "evidence", fn, self.ctx):
                continue
            cond = self._condition_of(hit.node)
            if cond is None or not self._gates_out_of_view(hit.node, cond) or \
                    self._condition_sanitized(cond):
                continue
            found = self._match(cond, hit.captures, None, None, (Step(
                hit.node, text_of(hit.node)[:60], "gate"),), True, "out of view")
            out.append(replace(found, message=spec.evidence_message))
        return out

    def _gates_out_of_view(self, atom: Node, cond: Node) -> bool:
        """Tell whether a flag test decides code the hunk does not show: it is an atom of an
        ``if`` condition (not a value inside a message) whose branch runs past the visible
        lines, or an early exit in a function whose rest is out of view."""
        statement = self.ctx.facts.symbols.parent(cond)
        if statement is None or statement.type != "if_statement":
            return False
        if any(n.type in {"call_expression", "conditional_expression"} and contains(n, atom)
               for n in walk(cond)):
            return False  # a value inside a call or a ?: of the condition decides nothing
        unit = self.ctx.unit
        branch = statement.child_by_field_name("consequence")
        if branch is not None and unit.real_line(branch.end_point.row) is None:
            return True
        fn = self.ctx.facts.function_of(statement)
        return fn is not None and unit.real_line(fn.end_point.row) is None

    def _out_of_view(self, node: Node) -> bool:
        """Tell whether the rest of a node's function may hold what happens next: a hunk
        shows it only in part."""
        fn = self.ctx.facts.function_of(node)
        return self.ctx.unit.origin.value == "hunks" and (fn is None or self._cut_short(fn))

    def _cut_short(self, fn: Node) -> bool:
        """Tell whether a hunk shows only part of a function (its start or end synthetic)."""
        unit = self.ctx.unit
        return unit.real_line(head_row(fn)) is None or \
            unit.real_line(fn.end_point.row) is None

    def _condition_of(self, atom: Node) -> Node | None:
        """Return the whole condition of the if/while/?: an atom is part of."""
        owner = self.ctx.facts.symbols.enclosing(atom, "if_statement", "while_statement",
                                                 "for_statement", "conditional_expression")
        cond = owner.child_by_field_name("condition") if owner is not None else None
        return cond if cond is not None and contains(cond, atom) else None

    def _condition_sanitized(self, cond: Node) -> bool:
        """Tell whether a condition (or the guards around it) holds a sanitiser."""
        if self.spec.sanitizers is None:
            return False
        atoms = [(a, True) for a in condition_atoms(cond)]
        atoms += [(g.atom, g.holds) for g in self.ctx.facts.guards(cond)]
        return any(self._sanitizes(atom, truth, None) for atom, truth in atoms)

    def _match(self, source: Node, captures: Captures, narrowing: Step | None,
               gated: tuple[Guard, Captures] | None, trace: Trace, lower: bool,
               end: str = "sink") -> FlowMatch:
        """Build the finding for a judged flow."""
        spec = self.spec
        gate = gated[0] if gated is not None else None
        report: Node
        if spec.report == "narrowing" and narrowing is not None:
            report = narrowing.node
        elif spec.report == "gate" and gate is not None:
            report = self._condition_of(gate.atom) or gate.atom
        elif spec.report == "sink" and trace and end == "sink":
            report = trace[-1].node
            up = self.ctx.facts.symbols.parent
            args = up(report)
            if args is not None and args.type == "argument_list" and up(args) is not None:
                report = up(args) or report  # the call, not one of its arguments
        else:
            report = source
        fields = {**_fields(captures), **self.ctx.notes.get(source.id, {})}
        sink_hit = self.sinks.get(_key(trace[-1].node)) if trace else None
        if sink_hit is not None:
            fields = {**_fields(sink_hit.captures), **fields}
        if narrowing is not None and narrowing.type is not None:
            fields["type"] = narrowing.type.shown()
            fields["narrowed"] = narrowing.label
        if gated is not None:
            fields = {**_fields(gated[1]), **fields}
        if gate is not None:
            fields["gate"] = text_of(gate.atom)[:60]
            fields["gate_line"] = str(gate.atom.start_point.row + 1)
        sink_call = fields.get("sinkcall")
        fields["end"] = {"sink": str(sink_hit.settings["end"]) if sink_hit is not None and
                         "end" in sink_hit.settings else f"{sink_call}()" if sink_call
                         else "a sink",
                         "state": "stored state",
                         "call": "a call out of view", "compare": "a bounds check",
                         "dead": "code out of view", "out of view": "code out of view",
                         "discarded": "nothing (discarded)"
                         }.get(end, end)
        # What identifies the hazard across the two images of a change and across resends:
        # where the value is narrowed, or which operation receives what, not the whole line.
        if narrowing is not None:  # where it is narrowed, whatever the narrow type
            kind = captures.get((spec.narrowing_kind or "").lstrip("@"))
            where = narrowing.label if narrowing.note != "cast" else f"cast in {sink_call}"
            identity = f"{where}:{text_of(kind[0]) if kind else ''}"
        elif spec.report == "sink" and end == "sink" and trace:
            value = (sink_hit.captures.get("length") if sink_hit is not None else None) or \
                captures.get("length") or [trace[-1].node]
            identity = f"{spec.name}:{sink_call or ''}:{text_of(value[0])}"
        else:
            identity = f"{spec.name}:{text_of(report)}"
        return FlowMatch(report, fields, trace, lower, identity)


def judge(spec: FlowSpec, ctx: Context) -> list[FlowMatch]:
    """Return the hazards one flow spec finds in a unit."""
    return FlowJudge(spec, ctx).judge()
