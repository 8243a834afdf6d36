"""VFIO008's own predicates: which sizes a request carries, when a ``MIN()`` bounds one, what
an upper bound is, and which functions serve a DMA map request."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from tree_sitter import Node

from vfiolint.c.syntax import arguments, call_name, is_lvalue, root_identifier, text_of, walk
from vfiolint.rules.predicates import (
    Args,
    Captures,
    Context,
    node_arg,
    predicate,
    string_arg,
    untrusted_request,
)

if TYPE_CHECKING:
    from vfiolint.c.facts import Facts

SIZE_FIELD_RE = re.compile(r"^(argsz|size|count|len|length|num_\w+|nr_\w+|n_\w+)$")
MIN_RE = re.compile(r"^(MIN|min|min_t|MIN_T|RTE_MIN|umin|min3|clamp|clamp_t|MIN3)$")
MAP_REQUEST_RE = re.compile(r"(?i)dma_map|map_dma")
BUDGET_RE = re.compile(r"(?i)avail|budget|remaining|quota|entry_limit")
COUNT_RE = re.compile(r"(?i)^(n|nr|num|count|used|entries)_?\w*$|_(count|nr|num|entries)$|"
                      r"^n(regions|maps|mappings|entries)$")
LIMIT_RE = re.compile(r"(?i)max|limit")


def _request_size(facts: Facts, node: Node) -> bool:
    """Tell whether a node reads a size or count field of a request from the other side."""
    if node.type != "field_expression" or is_lvalue(node):
        return False
    field = node.child_by_field_name("field")
    root = root_identifier(node)
    return bool(SIZE_FIELD_RE.match(text_of(field))) and root is not None and \
        untrusted_request(facts, root, acquired=False)


@predicate("vf-request-size?", "capture")
def request_size(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a read of a size or count (``argsz``, ``size``, ``count``, ``num_*``, ``nr_*``,
    ``bitmap.size``) of a VFIO struct that came from the other side."""
    node = node_arg(args, captures)
    return node is not None and _request_size(ctx.facts, node)


def _untrusted(facts: Facts, expr: Node) -> bool:
    """Tell whether an expression's value is, or is made from, a request's size."""

    def is_size(n: Node) -> bool:
        return _request_size(facts, n)

    return any(is_size(n) or bool(facts.flow.origins(n, is_size, steps=4))
               for n in walk(expr) if n.type in {"identifier", "field_expression"})


@predicate("vf-bounded-min?", "capture")
def bounded_min(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a ``MIN()``/``min()`` one of whose arguments the other side does not choose: the
    result is no larger than that, whatever the request says."""
    node = node_arg(args, captures)
    if node is None or node.type != "call_expression" or not MIN_RE.match(
            call_name(node) or ""):
        return False
    values = [a for a in arguments(node) if a.type not in {"primitive_type", "type_descriptor"}]
    return any(not _untrusted(ctx.facts, a) for a in values)


@predicate("vf-trusted-limit?", "capture")
def trusted_limit(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a limit the other side does not choose (a constant, the server's own maximum)."""
    node = node_arg(args, captures)
    return node is not None and not _untrusted(ctx.facts, node)


@predicate("vf-serves-request?", "capture", "string")
def serves_request(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a node in a function that holds a request from the other side whose struct type
    matches the pattern (``dma_map``: the function serves a DMA map request), or receives a
    pointer to one from a caller out of view."""
    node = node_arg(args, captures)
    fn = ctx.facts.function_of(node) if node is not None else None
    if fn is None:
        return False
    cache: dict[tuple[int, str], bool] = vars(ctx.facts).setdefault("_serves_request", {})
    key = (fn.id, string_arg(args, 1))
    if key not in cache:
        cache[key] = _serves(ctx, fn, re.compile(string_arg(args, 1)))
    return cache[key]


def _serves(ctx: Context, fn: Node, pattern: re.Pattern[str]) -> bool:
    """Answer vf-serves-request? for one function."""
    seen: set[str] = set()
    for ident in walk(fn):
        name = text_of(ident)
        if ident.type != "identifier" or name in seen:
            continue
        seen.add(name)
        declared = ctx.facts.symbols.lookup(name, ident)
        if declared is None or declared.fn is None or declared.fn.id != fn.id:
            continue
        ctype = declared.ctype
        if not pattern.search(ctype.record or ctype.base):
            continue
        if untrusted_request(ctx.facts, ident, acquired=False):
            return True
        # Received as a pointer from a caller out of view (the ioctl that copied it in is
        # not in the hunk): a map request comes from whoever asked for the mapping. With
        # the callers in view, where it comes from decides (a notifier's is the IOMMU
        # driver's, which keeps its own budget).
        if declared.kind == "param" and ctype.pointer == 1 and not _called_in_unit(ctx, fn):
            return True
    return False


def _called_in_unit(ctx: Context, fn: Node) -> bool:
    """Tell whether the unit calls a function (or takes its address, as a callback)."""
    from vfiolint.c.syntax import function_name

    name = function_name(fn)
    if not name:
        return False
    # Called, or named anywhere else (a callback stored in an ops table).
    return bool(ctx.facts.calls.sites(name)) or \
        len(re.findall(rf"\b{re.escape(name)}\b", ctx.unit.text.decode("utf-8", "replace"))) > 1


@predicate("vf-budget-test?", "capture")
def budget_test(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a test of how many objects the other side may still create: ``!iommu->dma_avail``,
    ``dma->nregions == dma->max_regions``, ``count >= LIMIT``."""
    node = node_arg(args, captures)
    if node is None:
        return False
    names = [text_of(n) for n in walk(node) if n.type in {"identifier", "field_identifier"}]
    if any(BUDGET_RE.search(n) for n in names):
        return True
    return any(COUNT_RE.search(n) for n in names) and any(LIMIT_RE.search(n) for n in names)


@predicate("vf-size-value?", "capture")
def size_value(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep what an upper bound may be about: a variable, or a size or count member
    (``req->argsz``, ``hdr.count``), not an index or a flag of the request."""
    node = node_arg(args, captures)
    if node is None:
        return False
    from vfiolint.c.syntax import unwrap

    node = unwrap(node)
    if node.type == "identifier":
        return True
    if node.type == "field_expression":
        return bool(SIZE_FIELD_RE.match(text_of(node.child_by_field_name("field"))))
    return False
