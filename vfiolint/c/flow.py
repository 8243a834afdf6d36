"""Where values come from and where they go, within a unit.

Values are followed through *locations*: variables (locals and parameters per function,
globals), struct members (per record, field by field, across the unit), and function returns.
A value moves by assignment (``=``, compound assignments, initialisers, designated
initialisers), by casts, through arithmetic, from an argument to the callee's parameter, from
a ``return`` to the caller, and out of a callee through a pointer parameter (``f(&x)`` with
``*p = v`` in ``f``). Macros the unit or tree defines are expanded one level by the rules
that need them.

``origins(expr)`` walks backwards to the expressions a value may come from; ``forward(expr)``
walks forwards to where it may end up. Both return *traces*: the steps from one end to the
other, each with its text, type and line, so a finding can show a reviewer why.

The analysis is flow-insensitive within a function except for one rule of order: a
definition reaches a use that comes after it in the text, or any use in the same loop.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tree_sitter import Node

from vfiolint.c import cparse
from vfiolint.c.syntax import (
    ARITHMETIC,
    COMPARISONS,
    arguments,
    call_name,
    contains,
    declarator_name,
    function_name,
    is_lvalue,
    operator,
    parameters,
    root_identifier,
    squash,
    text_of,
    unwrap,
    walk,
)

if TYPE_CHECKING:
    from vfiolint.c.calls import CallGraph
    from vfiolint.c.symbols import Symbols
    from vfiolint.c.types import CType

MAX_STEPS = 10  # hops along one trace
MAX_TRACES = 32  # traces kept per question
LOOPS = ("for_statement", "while_statement", "do_statement")
# the nodes that define or read a location (what ``_index`` looks at)
INDEXED = ("assignment_expression", "init_declarator", "compound_literal_expression",
           "identifier", "field_expression")


@dataclass(frozen=True, slots=True)
class Loc:
    """A storage location: ``var`` (``scope`` is the function's node id, 0 for a global),
    ``field`` (``record`` is the record id, ``?`` when unknown) or ``ret`` (a function's return
    value, ``name`` the function)."""

    kind: str
    name: str
    scope: int = 0
    record: str = ""


@dataclass(frozen=True, slots=True)
class Step:
    """One hop of a trace: the expression, how the value got there, and its type there."""

    node: Node = field(compare=False)
    label: str
    note: str
    type: CType | None = None

    @property
    def row(self) -> int:
        """Return the 0-based row of the step's expression."""
        return self.node.start_point.row


Trace = tuple[Step, ...]
Onward = tuple[list[tuple[Node, "Step | None"]], "str | None", "Step | None"]
Predicate = Callable[[Node], bool]


def _label(node: Node) -> str:
    """Show an expression compactly."""
    text = squash(text_of(node))
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass
class _Tables:
    """Definitions and uses of every location of a unit."""

    defs: dict[Loc, list[tuple[Node, Node]]] = field(default_factory=dict)
    uses: dict[Loc, list[Node]] = field(default_factory=dict)
    address: dict[Loc, list[tuple[Node, int]]] = field(default_factory=dict)


@dataclass
class Flow:
    """Answers "where can this value come from / go to?" for one unit."""

    symbols: Symbols
    calls: CallGraph
    _tables: _Tables | None = None
    _fn_tables: dict[int, _Tables] = field(default_factory=dict)
    stop_at_pointers: bool = False  # set per question by forward()
    members_in_function: bool = False  # set per question by forward()
    kill_defs: bool = False  # set per question by forward()

    # Locations -------------------------------------------------------------------------------

    def loc_of(self, expr: Node) -> Loc | None:
        """Return the location an lvalue-like expression names (an element is its array)."""
        node = unwrap(expr)
        kind = node.type
        if kind == "identifier":
            name = text_of(node)
            declared = self.symbols.lookup(name, node)
            if declared is not None and declared.fn is not None:
                return Loc("var", name, declared.fn.id)
            return Loc("var", name, 0)
        if kind == "field_expression":
            member = node.child_by_field_name("field")
            if member is None:
                return None
            return Loc("field", text_of(member), 0, self.symbols.member_owner(node))
        if kind in {"subscript_expression", "pointer_expression"}:
            inner = node.child_by_field_name("argument")
            return self.loc_of(inner) if inner is not None else None
        return None

    def type_at(self, loc: Loc, near: Node) -> CType | None:
        """Return the declared type of a location."""
        if loc.kind == "field":
            return self.symbols.fields(loc.record).get(loc.name) if loc.record != "?" else None
        if loc.kind == "var":
            declared = self.symbols.lookup(loc.name, near)
            return declared.ctype if declared is not None else None
        if loc.kind == "ret":
            return self.symbols.return_type(loc.name)
        return None

    def back_nodes(self, expr: Node, steps: int = 4) -> list[Node]:
        """Return the expressions a value is made from, walking back ``steps`` hops."""
        return back_nodes(self, expr, steps)

    def _lvalue_type(self, loc: Loc, expr: Node) -> CType | None:
        """Return the type of an lvalue expression (an element's, not its array's)."""
        return self.symbols.type_of(expr) or self.type_at(loc, expr)

    def tables(self) -> _Tables:
        """Index the definitions and uses of every location, in one walk of the unit."""
        if self._tables is None:
            self._tables = self._index(self.symbols.root)
        return self._tables

    def _tables_for(self, loc: Loc) -> _Tables:
        """Return an index that answers for a location: a local's definitions and uses all
        lie in its function, so only that function is walked (unless the whole unit already
        has been)."""
        if self._tables is not None or loc.kind != "var" or not loc.scope:
            return self.tables()
        found = self._fn_tables.get(loc.scope)
        if found is None:
            fn = next((f for f in self.symbols.functions() if f.id == loc.scope), None)
            if fn is None:
                return self.tables()
            found = self._fn_tables[loc.scope] = self._index(fn)
        return found

    def _index(self, root: Node) -> _Tables:
        """Index the definitions and uses of every location below a node."""
        tables = _Tables()
        for node in cparse.nodes_of(root, INDEXED):
            kind = node.type
            if kind == "assignment_expression":
                left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
                loc = self.loc_of(left) if left is not None else None
                if loc is not None and right is not None:
                    tables.defs.setdefault(loc, []).append((right, node))
            elif kind == "init_declarator":
                value = node.child_by_field_name("value")
                name = declarator_name(node.child_by_field_name("declarator"))
                if value is None or not name:
                    continue
                fn = self.symbols.function_of(node)
                loc = Loc("var", name, fn.id if fn is not None else 0)
                if value.type == "initializer_list":
                    self._designated(value, node, tables)
                else:
                    tables.defs.setdefault(loc, []).append((value, node))
            elif kind == "initializer_pair":
                continue  # handled with its initializer list
            elif kind == "compound_literal_expression":
                value = node.child_by_field_name("value")
                if value is not None:
                    self._designated(value, node, tables)
            elif kind in {"identifier", "field_expression"}:
                parent = self.symbols.parent(node)
                if parent is not None and parent.type == "field_expression" and \
                        node != parent.child_by_field_name("argument"):
                    continue  # the member name of a.b, not a read of its own
                loc = self.loc_of(node)
                if loc is None:
                    continue
                tables.uses.setdefault(loc, []).append(node)
                if parent is not None and parent.type == "pointer_expression" and \
                        text_of(parent).lstrip().startswith("&"):
                    args = self.symbols.parent(parent)
                    call = self.symbols.parent(args) if args is not None else None
                    if args is not None and args.type == "argument_list" and call is not None:
                        index = [a.id for a in args.named_children].index(parent.id)
                        tables.address.setdefault(loc, []).append((call, index))
        return tables

    def _designated(self, init: Node, owner: Node, tables: _Tables) -> None:
        """Record ``.member = value`` pairs of an initializer list as member definitions."""
        record = self._initialised_record(owner)
        for pair in init.named_children:
            if pair.type != "initializer_pair":
                continue
            designator = pair.child_by_field_name("designator")
            value = pair.child_by_field_name("value")
            if designator is None or value is None or designator.type != "field_designator":
                continue
            member = text_of(designator).lstrip(".").strip()
            tables.defs.setdefault(Loc("field", member, 0, record or "?"), []).append(
                (value, pair))

    def _initialised_record(self, owner: Node) -> str | None:
        """Return the record an initializer list initialises."""
        if owner.type == "init_declarator":
            decl = self.symbols.parent(owner)
            type_node = decl.child_by_field_name("type") if decl is not None else None
            return self.symbols.ctype(type_node, owner.child_by_field_name("declarator")).record
        if owner.type == "compound_literal_expression":
            type_desc = owner.child_by_field_name("type")
            spec = type_desc.child_by_field_name("type") if type_desc is not None else None
            return self.symbols.ctype(spec).record
        return None

    def defs(self, loc: Loc) -> list[tuple[Node, Node]]:
        """Return (value, definition) pairs of a location."""
        return self._tables_for(loc).defs.get(loc, [])

    def uses(self, loc: Loc) -> list[Node]:
        """Return the expressions that read a location."""
        return self._tables_for(loc).uses.get(loc, [])

    def _reaches(self, definition: Node, use: Node) -> bool:
        """Tell whether a definition may reach a use: it comes first, or both are in one loop."""
        if definition.start_byte < use.start_byte:
            return True
        loop = self.symbols.enclosing(use, *LOOPS)
        return loop is not None and contains(loop, definition)

    # Backwards -------------------------------------------------------------------------------

    def origins(self, expr: Node, is_source: Predicate, steps: int = MAX_STEPS) -> list[Trace]:
        """Return traces from the sources a value may come from to ``expr`` (source first)."""
        found: list[Trace] = []
        queue: deque[tuple[Node, Trace, int]] = deque([(expr, (), 0)])
        seen: set[tuple[int, int]] = set()
        while queue and len(found) < MAX_TRACES:
            node, trail, depth = queue.popleft()
            key = (node.start_byte, node.end_byte)
            if key in seen or depth > steps:
                continue
            seen.add(key)
            if is_source(node):
                found.append((Step(node, _label(node), "source"), *trail))
                continue
            for previous, step in self.backward(node):
                queue.append((previous, (step, *trail) if step is not None else trail,
                              depth + (step is not None)))
        return found

    def backward(self, node: Node) -> list[tuple[Node, Step | None]]:
        """Return the expressions a node's value is made of, with the hop that joins them."""
        node_u = unwrap(node)
        kind = node_u.type
        out: list[tuple[Node, Step | None]] = []
        if node_u is not node:
            return [(node_u, None)]
        if kind in {"identifier", "field_expression", "subscript_expression",
                    "pointer_expression"}:
            if kind == "pointer_expression" and text_of(node_u).lstrip().startswith("&"):
                inner = node_u.child_by_field_name("argument")
                return [(inner, None)] if inner is not None else []
            loc = self.loc_of(node_u)
            if loc is None:
                return []
            step = Step(node_u, _label(node_u), "read", self._lvalue_type(loc, node_u))
            for value, definition in self.defs(loc):
                if loc.kind == "var" and loc.scope and not self._reaches(definition, node_u):
                    continue
                out.append((value, step))
            out += self._out_parameter_defs(loc, step)
            out += self._parameter_args(loc, node_u, step)
            return out
        if kind == "cast_expression":
            cast_value = node_u.child_by_field_name("value")
            ctype = self.symbols.type_of(node_u)
            step = Step(node_u, _label(node_u), "cast", ctype)
            return [(cast_value, step)] if cast_value is not None else []
        if kind == "binary_expression" and operator(node_u) in ARITHMETIC:
            return [(c, None) for c in (node_u.child_by_field_name("left"),
                                        node_u.child_by_field_name("right")) if c is not None]
        if kind == "conditional_expression":
            return [(c, None) for c in (node_u.child_by_field_name("consequence"),
                                        node_u.child_by_field_name("alternative"))
                    if c is not None]
        if kind == "assignment_expression":
            right = node_u.child_by_field_name("right")
            return [(right, None)] if right is not None else []
        if kind == "comma_expression":
            right = node_u.child_by_field_name("right")
            return [(right, None)] if right is not None else []
        if kind == "call_expression":
            name = call_name(node_u)
            for fn in self.symbols.by_name(name)[:1] if name else []:
                sig = self.symbols.signature(name) if name else None
                step = Step(node_u, f"{name}()", "returned", sig[1] if sig else None)
                for ret in walk(fn):
                    if ret.type == "return_statement" and ret.named_children:
                        out.append((ret.named_children[0], step))
        return out

    def _out_parameter_defs(self, loc: Loc, step: Step) -> list[tuple[Node, Step | None]]:
        """Return the values a callee stores through a pointer to the location (``f(&x)``)."""
        out: list[tuple[Node, Step | None]] = []
        for call, index in self._tables_for(loc).address.get(loc, []):
            name = call_name(call)
            for fn in self.symbols.by_name(name)[:1] if name else []:
                params = parameters(fn)
                if index >= len(params):
                    continue
                pname = declarator_name(params[index].child_by_field_name("declarator"))
                if not pname:
                    continue
                Loc("var", pname, fn.id)
                via = Step(call, f"{name}(&{loc.name})", "stored through", step.type)
                out += self._deref_stores(fn, pname, via)
        return out

    def _deref_stores(self, fn: Node, pname: str, via: Step) -> list[tuple[Node, Step | None]]:
        """Return the values stored through ``*p`` in a function."""
        out: list[tuple[Node, Step | None]] = []
        for node in walk(fn):
            if node.type != "assignment_expression":
                continue
            left = node.child_by_field_name("left")
            right = node.child_by_field_name("right")
            if left is None or right is None:
                continue
            left = unwrap(left)
            if left.type == "pointer_expression" and not text_of(left).startswith("&"):
                target = left.child_by_field_name("argument")
                if target is not None and text_of(unwrap(target)) == pname:
                    out.append((right, via))
        return out

    def _parameter_args(self, loc: Loc, use: Node, step: Step) -> list[tuple[Node, Step | None]]:
        """Return the arguments the unit's callers pass for a parameter."""
        if loc.kind != "var" or not loc.scope:
            return []
        declared = self.symbols.lookup(loc.name, use)
        if declared is None or declared.kind != "param" or declared.fn is None:
            return []
        name = function_name(declared.fn)
        out: list[tuple[Node, Step | None]] = []
        for site in self.calls.sites(name) if name else []:
            args = arguments(site)
            if declared.index < len(args):
                out.append((args[declared.index], Step(site, f"{name}() argument "
                                                       f"{declared.index + 1}", "passed",
                                                       declared.ctype)))
        return out

    # Forwards --------------------------------------------------------------------------------

    def forward(self, expr: Node, is_sink: Predicate, is_barrier: Predicate | None = None,
                steps: int = MAX_STEPS, arithmetic: bool = True,
                pointers: bool = True, members: str = "unit",
                kills: bool = False) -> list[tuple[Trace, str]]:
        """Return traces from ``expr`` to where its value ends up, each with how it ends:
        ``sink`` (``is_sink`` held), ``barrier`` (``is_barrier`` held: a use that is not a
        hazard, such as a log message; the trace's last step is that use), ``state`` (stored
        in a member or global that outlives the function), ``call`` (passed to a function
        the unit does not define), ``compare`` (tested in a condition), or ``dead`` (not used
        again in view). With ``pointers`` false, a value stored into a pointer has become an
        address and its trace ends; with ``members`` ``"function"``, a value stored into a
        struct member is read back only in the function that stored it (another function's
        ``msg->out_size`` is another message's). With ``kills``, a local's later
        unconditional redefinition hides the earlier value from the uses after it
        (``ret = read(a); ... ret = read(b); if (ret != 4)`` tests only the second read)."""
        self.stop_at_pointers = not pointers
        self.members_in_function = members == "function"
        self.kill_defs = kills
        found: list[tuple[Trace, str]] = []
        start = Step(expr, _label(expr), "value", self.symbols.type_of(expr))
        queue: deque[tuple[Node, Trace, int]] = deque([(expr, (start,), 0)])
        # A node is visited once per hop that led to it: two stores that both reach one sink
        # are two paths (two narrowings), not one.
        seen: set[tuple[int, int, int, int]] = set()
        while queue and len(found) < MAX_TRACES:
            node, trail, depth = queue.popleft()
            hop = trail[-1].node
            key = (node.start_byte, node.end_byte, hop.start_byte, hop.end_byte)
            if key in seen or depth > steps:
                continue
            seen.add(key)
            if node is not expr and is_sink(node):
                found.append(((*trail, *self.into_sink(node)), "sink"))
                continue
            if is_barrier is not None and is_barrier(node):
                found.append(((*trail, Step(node, _label(node), "barrier")), "barrier"))
                continue
            nxt, end, last = self._onward(node, arithmetic)
            if end is not None:
                found.append(((*trail, last) if last is not None else trail, end))
            for following, step in nxt:
                queue.append((following, (*trail, step) if step is not None else trail,
                              depth + (step is not None)))
        return found

    def _onward(self, node: Node, arithmetic: bool = True) -> Onward:
        """Return where a value goes from a node, or how its trace ends there."""
        parent = self.symbols.parent(node)
        if parent is None:
            return [], "dead", None
        kind = parent.type
        if kind in {"parenthesized_expression", "conditional_expression"}:
            cond = parent.child_by_field_name("condition")
            if cond is not None and contains(cond, node):
                return [], "compare", None
            return [(parent, None)], None, None
        if kind in {"subscript_expression", "pointer_expression"} and \
                node == parent.child_by_field_name("argument"):
            if kind == "pointer_expression" and text_of(parent).lstrip().startswith("&"):
                return [], "dead", None
            return [(parent, None)], None, None  # an element of the array holds the value
        if kind == "cast_expression":
            return [(parent, Step(parent, _label(parent), "cast",
                                  self.symbols.type_of(parent)))], None, None
        if kind == "binary_expression":
            op = operator(parent)
            if op in ARITHMETIC:
                # With arithmetic off, a size minus something is no longer that size.
                return ([(parent, None)], None, None) if arithmetic else ([], "dead", None)
            if op in COMPARISONS:
                return [], "compare", None
            return [], "compare", None
        if kind == "unary_expression":
            return [], "compare" if operator(parent) == "!" else None, None
        call = self.symbols.parent(parent) if kind == "argument_list" else None
        if call is not None:
            return self._into_call(call, node)
        if kind == "assignment_expression" and node == parent.child_by_field_name("right"):
            left = parent.child_by_field_name("left")
            loc = self.loc_of(left) if left is not None else None
            if loc is None or left is None:
                return [], "dead", None
            step = Step(left, _label(left), "stored", self._lvalue_type(loc, left))
            return self._from_loc(loc, left, step)
        if kind == "init_declarator":
            name = declarator_name(parent.child_by_field_name("declarator"))
            fn = self.symbols.function_of(parent)
            if not name:
                return [], "dead", None
            loc = Loc("var", name, fn.id if fn is not None else 0)
            step = Step(parent, name, "stored", self.type_at(loc, parent))
            return self._from_loc(loc, parent, step)
        if kind == "initializer_pair":
            designator = parent.child_by_field_name("designator")
            init = self.symbols.parent(parent)
            owner = self.symbols.parent(init) if init is not None else None
            record = self._initialised_record(owner) if owner is not None else None
            if designator is None:
                return [], "dead", None
            member = text_of(designator).lstrip(".").strip()
            loc = Loc("field", member, 0, record or "?")
            step = Step(parent, f".{member}", "stored", self.type_at(loc, parent))
            return self._from_loc(loc, parent, step)
        if kind == "return_statement":
            fn = self.symbols.function_of(parent)
            name = function_name(fn) if fn is not None else None
            sites = self.calls.sites(name) if name else []
            sig = self.symbols.signature(name) if name else None
            step = Step(parent, f"return of {name}()", "returned", sig[1] if sig else None)
            if not sites:
                return [], "state", step
            return [(site, step) for site in sites], None, None
        return [], "dead", None

    def into_sink(self, node: Node) -> tuple[Step, ...]:
        """Return the last steps of a value that ends at a sink: the sink, then the hop into
        its call's parameter when the sink is an argument whose parameter type is known (the
        unit's definition or prototype, or the tree's signature), which can narrow it:
        ``read_cfg(fd, buf, len, reg->offset + 4)`` into ``uint32_t offs``. Both steps are
        at the sink's node."""
        sink = Step(node, _label(node), "sink")
        args = self.symbols.parent(node)
        call = self.symbols.parent(args) if args is not None and \
            args.type == "argument_list" else None
        hop = self._parameter_hop(call, node) if call is not None else None
        return (sink,) if hop is None else (sink, hop)

    def _parameter_hop(self, call: Node, arg: Node) -> Step | None:
        """Return the hop of an argument into its callee's parameter, typed from the
        callee's signature (the unit's definition or prototype, or the tree's); None when
        the callee or that parameter is not known."""
        name = call_name(call)
        ids = [a.id for a in arguments(call)]
        param = self.symbols.parameter(name, ids.index(arg.id)) if name and arg.id in ids \
            else None
        if param is None:
            return None
        return Step(arg, f"{name}() parameter {param[0]}", "passed", param[1])

    def _into_call(self, call: Node, arg: Node) -> Onward:
        """Follow an argument into the unit's callee, or end the trace at an unknown call."""
        name = call_name(call)
        targets = self.symbols.by_name(name) if name else []
        ids = [a.id for a in arguments(call)]
        index = ids.index(arg.id) if arg.id in ids else -1
        if not targets:
            if name and (name.isupper() or self._macro_function(name)):
                return [(call, None)], None, None  # ALIGN(x, …), RTE_PTR_ADD(p, x): a value
            # A callee defined elsewhere: its signature (declared here or in the tree) still
            # types the hop.
            return [], "call", self._parameter_hop(call, arg)
        fn = targets[0]
        params = parameters(fn)
        if index < 0 or index >= len(params):
            return [], "call", None
        pname = declarator_name(params[index].child_by_field_name("declarator"))
        if not pname:
            return [], "call", None
        loc = Loc("var", pname, fn.id)
        step = Step(arg, f"{name}() parameter {pname}", "passed", self.type_at(
            loc, fn.child_by_field_name("body") or fn))
        uses = self.uses(loc)
        if not uses:
            return [], "dead", step
        return [(use, step) for use in uses], None, None

    def _macro_function(self, name: str) -> bool:
        """Tell whether a name is a function-like macro of the unit or the tree."""
        found = self.symbols.macro(name)
        return found is not None and found[0] is not None

    def _from_loc(self, loc: Loc, at: Node, step: Step) -> Onward:
        """Continue from a location's later uses; a member or global also ends as state."""
        if self.stop_at_pointers and step.type is not None and step.type.pointer:
            return [], "dead", step  # it became an address: no longer an offset or a size
        uses = [u for u in self.uses(loc)
                if not (loc.kind == "var" and loc.scope and not self._reaches(at, u))
                and not contains(at, u) and not is_lvalue(u)]
        if self.members_in_function and loc.kind == "field":
            here = self.symbols.function_of(at)
            uses = [u for u in uses if self.symbols.function_of(u) == here
                    and self._reaches(at, u)]
        if self.kill_defs and loc.kind == "var" and loc.scope:
            uses = [u for u in uses if not self._killed(loc, at, u)]
        end = None
        if (loc.kind == "field" and not self._local_record(loc, at)) or (
                loc.kind == "var" and not loc.scope):
            end = "state"
        elif not uses:
            end = "dead"
        return [(u, step) for u in uses], end, step if end is not None else None

    def _killed(self, loc: Loc, at: Node, use: Node) -> bool:
        """Tell whether another definition of a local, made unconditionally between ``at``
        and ``use`` (a statement of a block that holds the use), hides ``at`` from it."""
        for _, definition in self.defs(loc):
            if contains(definition, at) or contains(at, definition):
                continue
            if not at.end_byte <= definition.start_byte < use.start_byte:
                continue
            statement = self.symbols.parent(definition)
            while statement is not None and statement.type in {
                    "parenthesized_expression", "comma_expression", "assignment_expression",
                    "init_declarator"}:
                statement = self.symbols.parent(statement)
            if statement is None or statement.type not in {"expression_statement",
                                                            "declaration"}:
                continue
            block = self.symbols.parent(statement)
            if block is not None and block.type in {"compound_statement", "case_statement"} \
                    and contains(block, use):
                return True
        return False

    def _local_record(self, loc: Loc, at: Node) -> bool:
        """Tell whether a member belongs to a struct held in a local variable (not state)."""
        root = root_identifier(at) if at.type != "initializer_pair" else None
        if root is None:
            return False
        declared = self.symbols.lookup(text_of(root), root)
        return declared is not None and declared.kind == "local" and not declared.ctype.pointer


def back_nodes(flow: Flow, expr: Node, steps: int = 4) -> list[Node]:
    """Return the expressions a value is made from, walking back ``steps`` hops."""
    out: list[Node] = []
    queue: deque[tuple[Node, int]] = deque(
        (n, 0) for n in walk(expr) if n.type in {"identifier", "field_expression",
                                                 "call_expression"})
    seen: set[tuple[int, int]] = set()
    while queue:
        node, depth = queue.popleft()
        key = (node.start_byte, node.end_byte)
        if key in seen or depth > steps:
            continue
        seen.add(key)
        out.append(node)
        for previous, step in flow.backward(node):
            queue.append((previous, depth + (step is not None)))
    return out


def shown(trace: Trace) -> str:
    """Render a trace the way a message shows it: ``reg.offset`` -> ``memreg[0].offset``."""
    parts = []
    for step in trace:
        where = f"L{step.row + 1}"
        kind = f", {step.type.shown()}" if step.type is not None else ""
        parts.append(f"`{step.label}` ({where}{kind})")
    return " -> ".join(parts)


def _whole_value(node: Node) -> bool:
    """Tell whether a node is a whole variable or member read: ``info->size``, not the
    ``info`` it starts from."""
    if node.type not in {"identifier", "field_expression"}:
        return False
    parent = node.parent
    return not (parent is not None and parent.type in {"field_expression",
                                                       "subscript_expression"}
                and node == parent.child_by_field_name("argument"))


def origin_locs(flow: Flow, expr: Node, steps: int = 6) -> set[Loc]:
    """Return every location a value passes through on its way to ``expr`` (for "is this the
    same value?" questions: two expressions share a value when these sets meet)."""
    found: set[Loc] = set()
    # The value of PAGE_ALIGN(x) or min(x, y) is made of x: every location named inside the
    # expression counts, not only the one it is.
    queue: deque[tuple[Node, int]] = deque(
        [(expr, 0)] + [(n, 0) for n in walk(expr) if n is not expr and _whole_value(n)])
    seen: set[tuple[int, int]] = set()
    while queue:
        node, depth = queue.popleft()
        key = (node.start_byte, node.end_byte)
        if key in seen or depth > steps:
            continue
        seen.add(key)
        loc = flow.loc_of(node)
        if loc is not None:
            found.add(loc)
        for previous, step in flow.backward(node):
            queue.append((previous, depth + (step is not None)))
    return found
