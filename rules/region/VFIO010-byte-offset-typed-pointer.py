"""VFIO010's own predicates: what is a count of bytes (a capability offset, a file position),
and which pointers step by more than a byte (their pointee is known and wider than one)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from tree_sitter import Node

from vfiolint.c.syntax import operator, root_identifier, text_of, unwrap, walk
from vfiolint.rules.predicates import Args, Captures, Context, node_arg, predicate

if TYPE_CHECKING:  # the C model: loaded when a file is judged, imported where it is used
    from vfiolint.c.types import CType

# Pointees one byte wide: arithmetic on these pointers counts bytes. ``void`` is GNU C's
# byte arithmetic (the kernel's and QEMU's style).
BYTE_TYPES = frozenset({
    "char", "signed char", "unsigned char", "uint8_t", "int8_t", "u8", "s8", "__u8", "__s8",
    "void", "gchar", "guchar", "guint8", "gint8", "uchar", "bool", "_Bool", "uint8", "int8",
    "caddr_t", "gpointer", "gconstpointer"})
# Scalars known to be wider than a byte.
WIDE_SCALARS = re.compile(
    r"^(?:(?:un)?signed\s+)?(?:short|int|long|long\s+long|long\s+int|short\s+int|unsigned)$"
    r"|^(?:unsigned|signed)$|^(?:float|double|long\s+double)$"
    r"|^(?:__)?[us](?:16|32|64)$|^u?int(?:16|32|64)(?:_t)?$|^__(?:le|be)(?:16|32|64)$"
    r"|^g(?:u)?int(?:16|32|64)?$|^(?:s?size_t|off_t|off64_t|loff_t|time_t|uintptr_t|intptr_t"
    r"|ptrdiff_t|dma_addr_t|phys_addr_t|resource_size_t|hwaddr|ram_addr_t|rte_iova_t"
    r"|wchar_t|pid_t|uid_t|gid_t|useconds_t|suseconds_t|clock_t|gsize|gssize|ulong|ushort"
    r"|uint|__kernel_loff_t|__aligned_u64)$")
QUALIFIERS = re.compile(r"\b(const|volatile|restrict|__restrict|__restrict__|static|"
                        r"__iomem|__user|__force|_Atomic|register)\b")
FILE_OFFSET_TYPES = frozenset({"loff_t", "off_t", "off64_t", "__kernel_loff_t"})
CAP_HEADER_RE = re.compile(r"(?i)cap")


def _bare(base: str) -> str:
    """Return a type's base text without qualifiers or ``struct``/``union``."""
    return " ".join(QUALIFIERS.sub(" ", base).split())


def pointee_width(ctype: CType) -> str | None:
    """Return ``byte`` or ``wide`` for what a pointer or array steps over, None when unknown
    (a typedef the unit and tree do not define)."""
    if ctype.pointer == 0 and not ctype.array:
        return None
    element = ctype.element()
    if element.pointer:
        return "wide"  # T **p steps by a pointer
    if element.record is not None or _bare(element.base).startswith(("struct ", "union ")):
        return "wide"
    base = _bare(element.base)
    if base in BYTE_TYPES:
        return "byte"
    if WIDE_SCALARS.search(base):
        return "wide"
    return None


def type_shown(ctype: CType) -> str:
    """Return the pointee as a reviewer reads it."""
    return _bare(ctype.element().shown())


@predicate("vf-wide-pointee?", "capture", "capture")
def wide_pointee(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a pointer (or array) whose pointee is known and wider than a byte: adding to it
    counts elements, not bytes (the pointee is noted on the amount added, the finding)."""
    node, amount = node_arg(args, captures), node_arg(args, captures, 1)
    if node is None or amount is None or unwrap(amount).type == "number_literal":
        return False
    ctype = ctx.facts.symbols.type_of(node)
    if ctype is not None and ctype.base != "?":
        pointee = type_shown(ctype) if pointee_width(ctype) == "wide" else None
    else:
        pointee = dereferenced_record(ctx, node)
    if pointee is None or converted_in_place(ctx, amount):
        return False
    ctx.note(amount, pointee=pointee)
    return True


def dereferenced_record(ctx: Context, pointer: Node) -> str | None:
    """For a pointer whose declaration is out of sight (a hunk), tell what its function shows
    it points to: ``P->member`` compiles only for a pointer to a struct or union, so P steps
    by more than a byte. Returns how to show the pointee (its tag is not known)."""
    root = root_identifier(pointer)
    fn = ctx.facts.function_of(pointer)
    if root is None or fn is None or ctx.facts.symbols.lookup(text_of(root), root) is not None:
        return None  # declared, as something the unit cannot resolve: not guessed at
    wanted = text_of(unwrap(pointer))
    for node in walk(fn):
        if node.type != "field_expression" or operator(node) != "->":
            continue
        base = node.child_by_field_name("argument")
        if base is not None and text_of(unwrap(base)) == wanted:
            return "struct"
    return None


def converted_in_place(ctx: Context, amount: Node) -> bool:
    """Tell whether the variable added is divided or shifted in place in its function
    (``pos >>= 2; regs + pos``): it counts elements by then."""
    bare = unwrap(amount)
    fn = ctx.facts.function_of(bare)
    if bare.type != "identifier" or fn is None:
        return False
    name = text_of(bare)
    for node in walk(fn):
        if node.type == "assignment_expression" and operator(node) in {"/=", ">>="}:
            left = node.child_by_field_name("left")
            if left is not None and text_of(unwrap(left)) == name:
                return True
    return False


@predicate("vf-cap-offset?", "capture")
def cap_offset(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a capability chain's byte offset: any ``cap_offset`` (``vfio_region_info``,
    ``vfio_iommu_type1_info``), and the ``next`` of a capability header
    (``vfio_info_cap_header``, a PCI capability) when its owner's type or name says so."""
    node = node_arg(args, captures)
    if node is None or node.type != "field_expression":
        return False
    member = text_of(node.child_by_field_name("field"))
    if member == "cap_offset":
        return True
    if member != "next":
        return False
    base = node.child_by_field_name("argument")
    if base is None:
        return False
    own = ctx.facts.symbols.member_of(node)
    if own is not None and (own.pointer or own.record is not None):
        return False  # a list's next pointer
    record = ctx.facts.symbols.record_of(base)
    if record is not None:
        return bool(CAP_HEADER_RE.search(record))
    names = [t for t in ctx.facts.tokens(base) if t[:1].isalpha() or t[:1] == "_"]
    return bool(names) and bool(CAP_HEADER_RE.search(names[-1]))


@predicate("vf-file-offset?", "capture")
def file_offset(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep a variable declared as a file position (``loff_t``, ``off_t``): a region or BAR
    access's byte offset."""
    node = node_arg(args, captures)
    if node is None or node.type != "identifier" or text_of(node) not in _offset_names(ctx):
        return False
    declared = ctx.facts.symbols.lookup(text_of(node), node)
    return declared is not None and declared.ctype.pointer == 0 and \
        _bare(declared.ctype.base) in FILE_OFFSET_TYPES


_NAMES: dict[str, object] = {}
OFFSET_DECL_RE = re.compile(rb"\b(?:l?off(?:64)?_t|__kernel_loff_t)\s+(\w+)")


def _offset_names(ctx: Context) -> frozenset[str]:
    """Return the names the unit's text declares with a file-position type (a cheap first
    test; remembered for the unit being judged)."""
    if _NAMES.get("facts") is not ctx.facts:
        names = frozenset(m.group(1).decode("ascii", "replace")
                          for m in OFFSET_DECL_RE.finditer(ctx.unit.text))
        _NAMES.clear()
        _NAMES.update(facts=ctx.facts, names=names)
    found = _NAMES["names"]
    assert isinstance(found, frozenset)
    return found


@predicate("vf-singleton?", "capture", "capture")
def singleton(ctx: Context, args: Args, captures: Captures) -> bool:
    """Keep ``&object + n``: the address of one object (not an array element) of a type wider
    than a byte, stepped by a variable amount, which leaves the object for any n but 0 or 1."""
    obj, amount = node_arg(args, captures), node_arg(args, captures, 1)
    if obj is None or amount is None or unwrap(amount).type == "number_literal":
        return False
    if unwrap(obj).type == "subscript_expression":
        return False
    ctype = ctx.facts.symbols.type_of(obj)
    if ctype is None or ctype.array:
        return False
    from vfiolint.c.types import CType

    address = CType(ctype.base, ctype.pointer + 1, False, ctype.record)
    if pointee_width(address) != "wide":
        return False
    ctx.note(amount, pointee=type_shown(address))
    return True
