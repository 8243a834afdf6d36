"""VFIO011's own predicates: which ``vfio_irq_set`` lives in a buffer of fixed capacity, and
which eventfd count is a runtime number nothing bounds.

A buffer has fixed capacity when it is an array (or a union member array) whose size names
``struct vfio_irq_set`` and is otherwise made of constants: ``char buf[sizeof(struct
vfio_irq_set) + sizeof(int) * (MAXQ * 2 + 1)]``, directly or through a macro of the unit or
the tree. A size with a function call or a variable in it is a VLA, sized at run time."""

from __future__ import annotations

import re

from tree_sitter import Node

from vfiolint.c.syntax import call_name, operator, text_of, unwrap, walk
from vfiolint.rules.predicates import Args, Captures, Context, node_arg, predicate

UPPER_RE = re.compile(r"^[A-Z_][A-Z0-9_]*$")
IDENT_RE = re.compile(r"[A-Za-z_]\w*")
NUMBER_RE = re.compile(r"\b(0[xX][0-9a-fA-F]+|\d+)[uUlL]*\b")
SIZEOF_RE = re.compile(r"\bsizeof\s*(\((?:[^()]|\([^()]*\))*\)|\w+)")
# Clamps: RTE_MIN(n, MAX), MIN(n, MAX), min_t(u32, n, MAX).
MIN_RE = re.compile(r"^(RTE_MIN|RTE_MIN_T|MIN|MIN2|min|min_t|umin|g_min)$")
# Accessors whose value their producer already caps: EAL creates at most
# RTE_MAX_RXTX_INTR_VEC_ID eventfds (rte_intr_efd_enable() clamps the count it stores), and
# the buffers built for them hold RTE_MAX_RXTX_INTR_VEC_ID + 1.
BOUNDED_ACCESSORS = frozenset({"rte_intr_nb_efd_get", "plt_intr_nb_efd_get"})
CONSTANT_CALLS = frozenset({"ARRAY_SIZE", "RTE_DIM", "G_N_ELEMENTS", "sizeof"})
RELATIONAL = frozenset({"<", "<=", ">", ">="})
MAX_MACRO_DEPTH = 3


def _expand(ctx: Context, text: str, depth: int = MAX_MACRO_DEPTH) -> str:
    """Replace object-like macros the unit or tree defines by their bodies."""
    if depth == 0:
        return text

    def body(m: re.Match[str]) -> str:
        found = ctx.facts.symbols.macro(m.group(0))
        if found is None or found[0] is not None:
            return m.group(0)
        return "(" + _expand(ctx, found[1], depth - 1) + ")"

    return IDENT_RE.sub(body, text)


def _constant_text(text: str) -> bool:
    """Tell whether an (expanded) expression is made of constants only: numbers, ``sizeof``,
    upper-case names; no variable, no function call."""
    rest = NUMBER_RE.sub(" 0 ", SIZEOF_RE.sub(" 0 ", text))
    return all(m.group(0) in CONSTANT_CALLS or UPPER_RE.match(m.group(0))
               for m in IDENT_RE.finditer(rest))


def fixed_capacity(ctx: Context, size: Node) -> str | None:
    """Return the size text of an irq-set buffer's array of fixed capacity, None otherwise
    (a VLA, or an array that is not sized for a ``vfio_irq_set``)."""
    raw = text_of(size)
    expanded = _expand(ctx, raw)
    names_irq_set = "vfio_irq_set" in expanded or (  # a macro out of view, by its name
        expanded == raw and any("IRQ_SET" in w for w in IDENT_RE.findall(raw)))
    if not names_irq_set or not _constant_text(expanded):
        return None
    return raw


def _array_size(declarator: Node | None) -> Node | None:
    """Return the size expression of an array declarator (through init declarators)."""
    while declarator is not None and declarator.type in {"init_declarator",
                                                          "parenthesized_declarator"}:
        declarator = declarator.child_by_field_name("declarator")
    if declarator is None or declarator.type != "array_declarator":
        return None
    return declarator.child_by_field_name("size")


def _record_buffer(ctx: Context, record: str | None) -> str | None:
    """Return the fixed irq-set buffer member of a union or struct defined in the unit."""
    if record is None:
        return None
    for body in ctx.facts.symbols.records().get(record, []):
        for field in walk(body):
            if field.type != "field_declaration":
                continue
            for declarator in field.children_by_field_name("declarator"):
                size = _array_size(declarator)
                if size is not None and (found := fixed_capacity(ctx, size)):
                    return found
    return None


def fixed_buffer(ctx: Context, expr: Node) -> str | None:
    """Return the capacity of the fixed buffer a ``vfio_irq_set`` expression points into: an
    array it is cast from, or the union it is a member of (kvmtool's ``evfd.irq``)."""
    from vfiolint.c.flow import back_nodes  # the C model: loaded when a file is judged

    symbols = ctx.facts.symbols
    for n in [unwrap(expr), *back_nodes(ctx.facts.flow, expr)]:
        if n.type == "identifier":
            declared = symbols.lookup(text_of(n), n)
            if declared is None or not declared.ctype.array:
                continue
            size = _array_size(declared.node)
            if size is not None and (found := fixed_capacity(ctx, size)):
                return found
        elif n.type == "field_expression":
            base = n.child_by_field_name("argument")
            if base is None:
                continue
            ctype = symbols.type_of(base)
            found = _record_buffer(ctx, ctype.record if ctype is not None else None)
            if found:
                return found
    return None


@predicate("vf-fixed-irq-set?", "capture")
def fixed_irq_set(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a ``vfio_irq_set`` that lives in a buffer of fixed capacity and carries a payload
    (its function does not set ``VFIO_IRQ_SET_DATA_NONE`` alone)."""
    node = node_arg(args, captures)
    if node is None or fixed_buffer(ctx, node) is None:
        return False
    fn = ctx.facts.function_of(node)
    tokens = ctx.facts.tokens(fn) if fn is not None else frozenset()
    return not ("VFIO_IRQ_SET_DATA_NONE" in tokens and "VFIO_IRQ_SET_DATA_EVENTFD" not in tokens
                and "VFIO_IRQ_SET_DATA_BOOL" not in tokens)


def irq_data_of_fixed(ctx: Context, expr: Node) -> bool:
    """Tell whether an expression points into the payload (``->data``) of a fixed buffer's
    ``vfio_irq_set``: ``fd_ptr = (int *)&irq_set->data``."""
    from vfiolint.c.flow import back_nodes

    for n in [unwrap(expr), *back_nodes(ctx.facts.flow, expr)]:
        if n.type != "field_expression":
            continue
        member = n.child_by_field_name("field")
        base = n.child_by_field_name("argument")
        if member is not None and base is not None and text_of(member) == "data" and \
                fixed_buffer(ctx, base) is not None:
            return True
    return False


@predicate("vf-irq-data-of-fixed?", "capture")
def irq_data_of_fixed_predicate(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a destination inside the eventfd payload of a fixed irq-set buffer."""
    node = node_arg(args, captures)
    return node is not None and irq_data_of_fixed(ctx, node)


@predicate("vf-fills-fixed-irq-data?", "capture", "capture")
def fills_fixed_irq_data(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a loop body that stores into the payload of a fixed irq-set buffer at an index
    made of the loop's variable: ``fd_ptr[RTE_INTR_VEC_RXTX_OFFSET + i] = fd``."""
    body, index = node_arg(args, captures, 0), node_arg(args, captures, 1)
    if body is None or index is None:
        return False
    name = text_of(unwrap(index))
    for n in walk(body):
        if n.type != "assignment_expression":
            continue
        left = n.child_by_field_name("left")
        if left is None or unwrap(left).type != "subscript_expression":
            continue
        left = unwrap(left)
        array, subscript = left.child_by_field_name("argument"), left.child_by_field_name(
            "index")
        if array is None or subscript is None:
            continue
        if name in {text_of(t) for t in walk(subscript) if t.type == "identifier"} and \
                irq_data_of_fixed(ctx, array):
            return True
    return False


def constant(ctx: Context, node: Node) -> bool:
    """Tell whether an expression is a compile-time constant (macros expanded; casts,
    arithmetic and ``?:`` of constants are constants)."""
    node = unwrap(node)
    kind = node.type
    if kind in {"number_literal", "char_literal", "sizeof_expression", "true", "false"}:
        return True
    if kind == "cast_expression":
        value = node.child_by_field_name("value")
        return value is not None and constant(ctx, value)
    if kind == "identifier":
        return _constant_text(_expand(ctx, text_of(node)))
    if kind == "call_expression":
        name = call_name(node) or ""
        args = node.child_by_field_name("arguments")
        return name in CONSTANT_CALLS or (bool(UPPER_RE.match(name)) and not MIN_RE.match(
            name) and args is not None and all(constant(ctx, a) for a in args.named_children))
    if kind in {"binary_expression", "unary_expression", "conditional_expression"}:
        return all(constant(ctx, c) for c in node.named_children)
    return False


@predicate("vf-constant?", "capture")
def constant_predicate(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a compile-time constant: a bound a buffer's capacity can be compared with."""
    node = node_arg(args, captures)
    return node is not None and constant(ctx, node)


def _clamped(node: Node) -> bool:
    """Tell whether an expression caps itself: ``n > MAX ? MAX : n``, ``RTE_MIN(n, MAX)``."""
    for n in walk(node):
        if n.type == "conditional_expression":
            cond = n.child_by_field_name("condition")
            if cond is not None and any(c.type == "binary_expression" and
                                        operator(c) in RELATIONAL for c in walk(cond)):
                return True
        elif n.type == "call_expression" and MIN_RE.match(call_name(n) or ""):
            return True
    return False


def _own_count(node: Node) -> bool:
    """Tell whether an expression reads the irq set's own ``count`` (judged where it is set)."""
    member = node.child_by_field_name("field") if node.type == "field_expression" else None
    return member is not None and text_of(member) == "count"


def runtime(ctx: Context, node: Node, depth: int = 3) -> bool:
    """Tell whether a count is a runtime number that nothing in view caps: not a constant,
    not a clamp, not an accessor capped at its source, and not a local or parameter whose
    every value in the unit is one of those."""
    node = unwrap(node)
    if constant(ctx, node) or _clamped(node) or _own_count(node):
        return False
    kind = node.type
    if kind == "cast_expression":
        value = node.child_by_field_name("value")
        return value is not None and runtime(ctx, value, depth)
    if kind == "call_expression" and call_name(node) in BOUNDED_ACCESSORS:
        return False
    if kind == "binary_expression":
        op = operator(node)
        left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
        if op in {"&", "%"} and any(s is not None and constant(ctx, s) for s in (left, right)):
            return False  # masked or reduced by a constant
        return any(s is not None and runtime(ctx, s, depth) for s in (left, right))
    if kind in {"identifier", "field_expression", "call_expression"} and depth > 0:
        values = [value for value, _ in ctx.facts.flow.backward(node)]
        if values:
            return any(runtime(ctx, v, depth - 1) for v in values)
    return True


@predicate("vf-runtime-count?", "capture")
def runtime_count(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep an eventfd count that is a runtime number nothing in view caps."""
    node = node_arg(args, captures)
    return node is not None and runtime(ctx, node)
