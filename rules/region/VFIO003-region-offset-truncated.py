"""VFIO003's own predicates: what a vfio_region_info is, which sizes are an I/O port
region's, and which macros rebuild a region offset from its index."""

from __future__ import annotations

import re

from tree_sitter import Node

from vfiolint.c.syntax import call_name, text_of, unwrap, walk
from vfiolint.rules.predicates import Args, Captures, Context, node_arg, predicate

REGION_NAME_RE = re.compile(r"(?i)(^|_)(reg|regs|region|regions|info|rinfo|reginfo)(_|$)")
REGION_WORDS = frozenset({b"vfio_region_info", b"region_info", b"REGION_INFO"})
# A test that a region is an I/O port BAR (kvmtool's is_ioport, the PCI and resource flags).
IO_REGION_RE = re.compile(r"\b(is_ioport|is_io|IORESOURCE_IO|PCI_BASE_ADDRESS_SPACE_IO)\b")
REBUILD_RE = re.compile(r"<<[ (]*(VFIO_PCI_OFFSET_SHIFT|40[uUlL]*)([^0-9A-Za-z_]|$)")


def _region_info(ctx: Context, base: Node) -> tuple[bool, bool]:
    """Tell whether an expression is a struct vfio_region_info, and whether that is a guess
    (its declaration is out of sight and only its name says so)."""
    ctype = ctx.facts.symbols.type_of(base)
    if ctype is not None:
        return "vfio_region_info" in ctype.base or ctype.record == "vfio_region_info", False
    root = next((n for n in walk(base) if n.type == "identifier"), None)
    if root is None or ctx.facts.symbols.lookup(text_of(root), base) is not None:
        return False, False  # declared, but as something this unit cannot resolve
    if not ctx.mentions & REGION_WORDS:
        return False, False  # a change that never names region info is not guessed at
    base = unwrap(base)
    while base.type == "subscript_expression":  # regions[i]: the array names it, not i
        inner = base.child_by_field_name("argument")
        if inner is None:
            break
        base = unwrap(inner)
    names = [text_of(n) for n in walk(base) if n.type in {"identifier", "field_identifier"}]
    return bool(names and REGION_NAME_RE.search(names[-1])), True


@predicate("vf-region-info?", "capture")
def region_info(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a member access ``x.offset``/``x->size`` whose ``x`` is a struct vfio_region_info
    (by its declared type, through typedefs and the tree's headers; by its name when its
    declaration is out of sight, which lowers the finding's confidence)."""
    node = node_arg(args, captures)
    base = node.child_by_field_name("argument") if node is not None else None
    if node is None or base is None:
        return False
    found, guessed = _region_info(ctx, base)
    if found and guessed:
        ctx.note(node, guessed="yes")
    return found


@predicate("vf-not-io-port-size?", "capture")
def not_io_port_size(ctx: Context, args: Args, captures: Captures) -> bool:
    """Drop the ``size`` of a region the code has tested to be an I/O port BAR: the access
    runs only where a test of ``is_ioport``, ``IORESOURCE_IO`` or
    ``PCI_BASE_ADDRESS_SPACE_IO`` holds. An I/O BAR decodes at most 256 bytes (PCI Local Bus
    3.0, 6.2.5.1) of a 64 KiB port space, so a 16-bit type holds its size. An offset is
    never dropped: its upper bits are the region index whatever the region is."""
    node = node_arg(args, captures)
    field = node.child_by_field_name("field") if node is not None else None
    if node is None or field is None or text_of(field) != "size":
        return True
    return not any(g.holds and IO_REGION_RE.search(text_of(g.atom))
                   for g in ctx.facts.guards(node))


@predicate("vf-rebuilds-offset?", "capture")
def rebuilds_offset(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a call of a macro (the unit's own or the tree's) whose body rebuilds a region
    offset from an index: ``(idx) << 40`` or ``<< VFIO_PCI_OFFSET_SHIFT``."""
    node = node_arg(args, captures)
    name = call_name(node) if node is not None else None
    if node is None or name is None or not re.search(r"(?i)region|index|idx|bar|offset|off",
                                                     name):
        return False
    found = ctx.facts.symbols.macro(name)
    if found is None or not REBUILD_RE.search(found[1]):
        return False
    ctx.note(node, macro=name, defined=f"{found[2].path}:{found[2].line}")
    return True


@predicate("vf-unused-macro?", "capture")
def unused_macro(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a macro definition the unit never calls (its uses are judged where they are)."""
    node = node_arg(args, captures)
    if node is None:
        return False
    name = text_of(node)
    return not ctx.facts.calls.sites(name)
