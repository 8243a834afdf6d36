"""Custom ``#vf-<phrase>?`` query predicates, one small pure function each.

A predicate receives the match context (the unit and its Facts), its arguments as written in the
query, and the match's captures; it answers True to keep the match. Token lists live in the rule
files as regular expressions; the predicates only know C.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

from tree_sitter import Node

from vfiolint.c.facts import Declared, Facts, enclosing, squash, text_of, width_class
from vfiolint.inputs.images import SourceUnit

Args = list[tuple[str, str]]
Captures = dict[str, list[Node]]
Predicate = Callable[["Context", Args, Captures], bool]

REGION_NAME_RE = re.compile(r"(?i)(^|_)(reg|regs|region|regions|info|rinfo|reginfo)(_|$)")
REGION_FIELDS = ("offset", "size")
REGION_FIELD_TEXT_RE = re.compile(rb"(\.|->)\s*(offset|size)\b")
KERNEL_VFIO_RE = re.compile(r"(^|/)(drivers/vfio/|include/linux/vfio|include/uapi/linux/vfio)")
COMPARISONS = frozenset({"==", "!=", "<", ">", "<=", ">=", "&&", "||"})


@dataclass
class Context:
    """What a predicate may look at: the unit, its facts, and notes for the finding's message."""

    unit: SourceUnit
    facts: Facts
    notes: dict[int, dict[str, str]] = field(default_factory=dict)

    def note(self, node: Node, **values: str) -> None:
        """Record message fields (and ``guessed``) for the finding reported at ``node``."""
        self.notes.setdefault(node.id, {}).update(values)


REGISTRY: dict[str, Predicate] = {}
CUSTOM_RE = re.compile(r'\(#(vf-[a-z0-9-]+\?)((?:\s+(?:@[\w.-]+|"(?:[^"\\]|\\.)*"))*)\s*\)')
ARG_RE = re.compile(r'@([\w.-]+)|"((?:[^"\\]|\\.)*)"')


def split_patterns(query: str) -> list[str]:
    """Split a query into its top-level patterns, in the order tree-sitter numbers them."""
    patterns: list[str] = []
    depth, start, i, n = 0, -1, 0, len(query)
    while i < n:
        ch = query[i]
        if ch == ";":
            end = query.find("\n", i)
            i = n if end < 0 else end
            continue
        if ch == '"':
            i += 1
            while i < n and query[i] != '"':
                i += 2 if query[i] == "\\" else 1
        elif ch in "([":
            if depth == 0:
                start = i
            depth += 1
        elif ch in ")]":
            depth -= 1
            if depth == 0 and start >= 0:
                j = i + 1
                while j < n and query[j] in "*+?":
                    j += 1
                patterns.append(query[start:j])
                start = -1
        i += 1
    return patterns


@cache
def custom_predicates(query: str) -> tuple[tuple[tuple[str, Args], ...], ...]:
    """Return, per pattern, the ``#vf-...?`` predicates and their arguments.

    They are applied here, after tree-sitter's own (#eq?, #match?, #any-of?): the binding's
    predicate callback leaks memory on every call (py-tree-sitter 0.25 and 0.26)."""
    out = []
    for pattern in split_patterns(query):
        checks = []
        for m in CUSTOM_RE.finditer(pattern):
            args: Args = [(a, "capture") if a else (b.replace('\\"', '"').replace("\\\\", "\\"),
                                                  "string")
                          for a, b in ARG_RE.findall(m.group(2))]
            checks.append((m.group(1), args))
        out.append(tuple(checks))
    return tuple(out)


def holds(ctx: Context, checks: tuple[tuple[str, Args], ...], captures: Captures) -> bool:
    """Tell whether a match passes all its pattern's custom predicates."""
    return all(REGISTRY[name](ctx, args, captures) for name, args in checks)


def predicate(name: str) -> Callable[[Predicate], Predicate]:
    """Register a function as the ``#<name>`` predicate."""

    def register(fn: Predicate) -> Predicate:
        REGISTRY[name] = fn
        return fn

    return register


@cache
def regex(pattern: str) -> re.Pattern[str]:
    """Compile a pattern given in a rule file."""
    return re.compile(pattern)


def _node(args: Args, captures: Captures, k: int = 0) -> Node | None:
    """Return the node of the k-th argument, which must be a capture."""
    value, kind = args[k]
    nodes = captures.get(value, []) if kind == "capture" else []
    return nodes[0] if nodes else None


def _string(args: Args, k: int) -> str:
    """Return the k-th argument, which must be a string."""
    return args[k][0]


@predicate("vf-contains-token?")
def contains_token(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a match whose node holds an identifier matching the pattern."""
    node = _node(args, captures)
    pattern = regex(_string(args, 1))
    return node is not None and any(pattern.search(t) for t in ctx.facts.tokens(node))


@predicate("vf-some-around?")
def some_around(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a match when an identifier matching the pattern appears in its function
    neighbourhood (the function, and same-file callers and callees two steps each way)."""
    node = _node(args, captures)
    return node is not None and ctx.facts.around_has(node, regex(_string(args, 1)))


@predicate("vf-tests-token?")
def tests_token(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a condition that mentions an identifier matching the pattern, directly or through a
    local variable initialised from one (``int backing = get_backing_fd(mr); if (backing…``)."""
    node = _node(args, captures)
    if node is None:
        return False
    pattern = regex(_string(args, 1))
    if any(pattern.search(t) for t in ctx.facts.tokens(node)):
        return True
    for ident in ctx.facts.walk(node):
        if ident.type != "identifier":
            continue
        declared = ctx.facts.lookup(text_of(ident), ident)
        init = declared.declarator.child_by_field_name("value") if declared else None
        if init is not None and any(pattern.search(t) for t in ctx.facts.tokens(init)):
            return True
    return False


def _calls_matching(ctx: Context, node: Node, pattern: re.Pattern[str]) -> bool:
    """Tell whether a call below a node names or passes an identifier matching the pattern."""
    return any(pattern.search(t) for n in ctx.facts.walk(node)
               if n.type == "call_expression" for t in ctx.facts.tokens(n))


@predicate("vf-calls-token?")
def calls_token(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep code that makes a call naming or passing an identifier matching the pattern, itself
    or in a same-file function it calls (a mapping done by a helper)."""
    node = _node(args, captures)
    if node is None:
        return False
    pattern = regex(_string(args, 1))
    if _calls_matching(ctx, node, pattern):
        return True
    called = {text_of(f) for n in ctx.facts.walk(node) if n.type == "call_expression"
              and (f := n.child_by_field_name("function")) is not None and f.type == "identifier"}
    return any(_calls_matching(ctx, fn, pattern) for name in called
               for fn in ctx.facts.by_name(name))


@predicate("vf-not-a-call-with?")
def not_a_call_with(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a condition that does not itself perform a call mentioning the pattern (the error
    check of an ``ioctl(fd, IOMMU_IOAS_MAP_FILE, …)`` chooses nothing)."""
    node = _node(args, captures)
    return node is not None and not _calls_matching(ctx, node, regex(_string(args, 1)))


@predicate("vf-none-read-around?")
def none_read_around(ctx: Context, args: Args, captures: Captures) -> bool:
    """Like ``vf-none-around?``, but only reads count: storing into ``bar_mmap_supported[i]``
    is not checking it."""
    node = _node(args, captures)
    return node is not None and not ctx.facts.around_reads(node, regex(_string(args, 1)))


@predicate("vf-none-around?")
def none_around(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a match when no identifier matching the pattern appears in its function, the
    same-file functions it calls, or those that call it (two steps each way)."""
    node = _node(args, captures)
    return node is not None and not ctx.facts.around_has(node, regex(_string(args, 1)))


@predicate("vf-outermost?")
def outermost(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a binary expression that is not an operand of the same operator."""
    node = _node(args, captures)
    if node is None:
        return False
    parent = node.parent
    while parent is not None and parent.type == "parenthesized_expression":
        parent = parent.parent
    return not (parent is not None and parent.type == node.type and _op(parent) == _op(node))


@predicate("vf-userspace-path?")
def userspace_path(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a match in a file outside the kernel's VFIO core (where VFIO internals are fair)."""
    return not KERNEL_VFIO_RE.search(ctx.unit.path)


def _op(node: Node) -> str:
    """Return a binary expression's operator."""
    op = node.child_by_field_name("operator")
    return text_of(op) if op is not None else ""


# VFIO003: region offsets and sizes kept in types that can be 32 bits wide ----------------------


def _is_region_info(ctx: Context, base: Node) -> tuple[bool, bool]:
    """Tell whether an expression is a struct vfio_region_info, and whether that is a guess."""
    declared = ctx.facts.type_of(base)
    if declared is not None:
        return "vfio_region_info" in ctx.facts.type_text(declared.type_node), False
    root = next((n for n in ctx.facts.walk(base) if n.type == "identifier"), None)
    if root is None or ctx.facts.lookup(text_of(root), base) is not None:
        return False, False  # declared, but as something this unit cannot resolve
    while base.type == "subscript_expression":  # regions[i]: the array names it, not i
        inner = base.child_by_field_name("argument")
        if inner is None:
            break
        base = inner
    names = [text_of(n) for n in ctx.facts.walk(base) if n.type in {"identifier", "field_identifier"}]
    return bool(names and REGION_NAME_RE.search(names[-1])), True


def region_reads(ctx: Context, expr: Node) -> list[tuple[str, bool]]:
    """Return the region fields (offset, size) an expression's value carries, with guess flags.

    Calls, comparisons and sizeof produce values of their own, so reads below them do not count.
    """
    found: list[tuple[str, bool]] = []
    stack = [expr]
    while stack:
        node = stack.pop()
        if node.type in {"call_expression", "sizeof_expression", "argument_list"}:
            continue
        if node.type == "binary_expression" and _op(node) in COMPARISONS:
            continue
        if node.type == "conditional_expression":
            stack += [c for c in node.children_by_field_name("consequence")]
            stack += [c for c in node.children_by_field_name("alternative")]
            continue
        if node.type == "field_expression":
            field_node = node.child_by_field_name("field")
            base = node.child_by_field_name("argument")
            if field_node is not None and base is not None and text_of(field_node) in REGION_FIELDS:
                ok, guessed = _is_region_info(ctx, base)
                if ok:
                    found.append((text_of(field_node), guessed))
                    continue
        stack.extend(node.named_children)
    return found


def _narrow_for(field_name: str, type_text: str) -> bool:
    """Tell whether a type can lose bits of a region offset (any 32-bit host) or size."""
    width = width_class(type_text)
    if field_name == "offset":
        return width in {"narrow", "word"}
    return width == "narrow"


def _declared_text(ctx: Context, declared: Declared | None) -> str | None:
    """Return the base type text of a declaration, None for pointers and unknowns."""
    if declared is None or declared.pointer:
        return None
    return ctx.facts.type_text(declared.type_node)


def _targets(ctx: Context, node: Node) -> list[tuple[Node, str | None]]:
    """Return (value expression, destination type text) pairs for a store-like node."""
    kind = node.type
    if kind == "init_declarator":
        decl = node.parent
        value = node.child_by_field_name("value")
        type_node = decl.child_by_field_name("type") if decl is not None else None
        if value is None or type_node is None or "pointer" in (node.child_by_field_name(
                "declarator") or node).type:
            return []
        return [(value, ctx.facts.type_text(type_node))]
    if kind == "assignment_expression":
        left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
        if left is None or right is None:
            return []
        return [(right, _declared_text(ctx, ctx.facts.type_of(left)))]
    if kind == "cast_expression":
        type_node, value = node.child_by_field_name("type"), node.child_by_field_name("value")
        if type_node is None or value is None or "*" in text_of(type_node):
            return []
        return [(value, text_of(type_node))]
    if kind == "return_statement":
        fn = ctx.facts.function_of(node)
        value = node.named_children[0] if node.named_children else None
        type_node = fn.child_by_field_name("type") if fn is not None else None
        declarator = fn.child_by_field_name("declarator") if fn is not None else None
        if value is None or type_node is None or (declarator and declarator.type == "pointer_declarator"):
            return []
        return [(value, ctx.facts.type_text(type_node))]
    if kind == "call_expression":
        return _parameter_targets(ctx, node)
    return []


def _parameter_targets(ctx: Context, call: Node) -> list[tuple[Node, str | None]]:
    """Pair a same-file call's arguments with the declared types of the callee's parameters."""
    callee = call.child_by_field_name("function")
    args = call.child_by_field_name("arguments")
    if callee is None or args is None or callee.type != "identifier":
        return []
    pairs: list[tuple[Node, str | None]] = []
    for fn in ctx.facts.by_name(text_of(callee))[:1]:
        declarator = fn.child_by_field_name("declarator")
        while declarator is not None and declarator.type != "function_declarator":
            declarator = declarator.child_by_field_name("declarator")
        params = declarator.child_by_field_name("parameters") if declarator else None
        if params is None:
            continue
        decls = [p for p in params.named_children if p.type == "parameter_declaration"]
        for arg, param in zip(args.named_children, decls, strict=False):
            type_node = param.child_by_field_name("type")
            inner = param.child_by_field_name("declarator")
            if type_node is None or (inner is not None and "pointer" in inner.type):
                continue
            pairs.append((arg, ctx.facts.type_text(type_node)))
    return pairs


@predicate("vf-narrow-region-store?")
def narrow_region_store(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a store, cast, return or same-file call that puts a vfio_region_info offset in a
    type that can be 32-bit, or its size in a type narrower than size_t."""
    node = _node(args, captures)
    if node is None or not REGION_FIELD_TEXT_RE.search(node.text or b""):
        return False  # no .offset/.size read here: nothing to judge
    for value, type_text in _targets(ctx, node):
        if type_text is None:
            continue
        for field_name, guessed in region_reads(ctx, value):
            if _narrow_for(field_name, type_text):
                ctx.note(node, field=field_name, type=squash(type_text),
                         guessed="yes" if guessed else "")
                return True
    return False


# VFIO005: the MSI-X table guard made conditional on a switch ---------------------------------

MSIX_BAR_RE = re.compile(r"(?i)msix\w*(\W+\w*)?(bar|bir)|\b(bar|bir)\w*(\W+\w*)?msix")


def _unwrap(node: Node) -> Node:
    """Strip redundant parentheses."""
    while node.type == "parenthesized_expression" and node.named_child_count == 1:
        node = node.named_children[0]
    return node


def _operands(node: Node, op: str) -> list[Node]:
    """Flatten a chain of one logical operator into its operands, parentheses stripped."""
    node = _unwrap(node)
    if node.type == "binary_expression" and _op(node) == op:
        left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
        return [*(_operands(left, op) if left else []), *(_operands(right, op) if right else [])]
    return [node]


def _msix_test(ctx: Context, operand: Node, op: str) -> bool:
    """Tell whether an operand compares something with the MSI-X BAR (not with a constant,
    which asks whether the device has MSI-X at all)."""
    if operand.type != "binary_expression" or _op(operand) != op:
        return False
    sides = [_unwrap(c) for c in operand.children_by_field_name("left")
             + operand.children_by_field_name("right")]
    if any(side.type == "number_literal" for side in sides):
        return False
    return bool(MSIX_BAR_RE.search(squash(text_of(operand))))


def _is_switch(ctx: Context, operand: Node) -> bool:
    """Tell whether an operand is a platform or configuration switch rather than a range test
    or a local flag (``!again`` in a retry loop decides nothing about the platform)."""
    inner = operand
    if operand.type == "unary_expression" and text_of(operand).startswith("!"):
        inner = _unwrap(operand.child_by_field_name("argument") or operand)
        if any(_op(n) in COMPARISONS for n in ctx.facts.walk(inner)
               if n.type == "binary_expression"):
            return False
    elif operand.type not in {"call_expression", "identifier", "field_expression"}:
        return False
    return not (inner.type == "identifier" and _is_local(ctx, inner))


def _is_local(ctx: Context, ident: Node) -> bool:
    """Tell whether an identifier names a variable declared in its function's body (not a
    parameter, a global or a module parameter)."""
    declared = ctx.facts.lookup(text_of(ident), ident)
    if declared is None or enclosing(declared.declarator, "parameter_declaration") is not None:
        return False
    fn = ctx.facts.function_of(declared.declarator)
    # A hunk fragment wrapped in a synthetic function (its first line is no real line) may
    # hold file-scope declarations: they are not locals.
    return fn is not None and ctx.unit.real_line(fn.start_point.row) is not None


CONFIG_RE = re.compile(r"\b(IS_ENABLED|IS_BUILTIN|IS_REACHABLE)\s*\(|\bCONFIG_\w+")


def _is_config(operand: Node) -> bool:
    """Tell whether an operand is a Kconfig switch, negated or not."""
    return bool(CONFIG_RE.search(text_of(operand)))


@predicate("vf-msix-guard-switched?")
def msix_guard_switched(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a condition that tests the MSI-X BAR together with a switch that can turn the
    MSI-X protection off: ``bar == msix_bar && !switch`` or ``bar != msix_bar || switch``."""
    node = _node(args, captures)
    if node is None or not outermost(ctx, args[:1], captures):
        return False
    op = _op(node)
    operands = _operands(node, op)
    test_op, wants_negated = ("==", True) if op == "&&" else ("!=", False)
    msix = [o for o in operands if _msix_test(ctx, o, test_op)]
    switches = [o for o in operands if o not in msix and _is_switch(ctx, o)
                and ((o.type == "unary_expression") == wants_negated or _is_config(o))]
    if msix and switches:
        ctx.note(node, switch=squash(text_of(switches[0])))
        return True
    return False
