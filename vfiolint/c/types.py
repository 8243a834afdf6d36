"""C types as the rules need them: a base type with typedefs resolved, a pointer depth, and how
wide the base type is on every Linux host (``narrow``: 32 bits or less; ``word``: as wide as a
pointer, so 32 bits on 32-bit hosts; ``wide``: 64 bits everywhere)."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Types that are 32 bits or less on every Linux host.
NARROW_TYPES = frozenset(["int", "unsigned", "signed", "short", "char", "bool", "_Bool", "uint32_t", "int32_t", "uint16_t", "int16_t", "uint8_t", "int8_t", "u32", "s32", "u16", "s16", "u8", "s8", "__u32", "__s32", "__u16", "__s16", "__u8", "__s8", "__le32", "__be32", "__le16", "__be16", "guint32", "gint32", "guint", "gint", "uint32", "int32", "uint16", "uint8", "unsigned_int", "uint", "ushort", "uchar"])
# Types as wide as a pointer: 32 bits on 32-bit hosts.
WORD_TYPES = frozenset(["long", "size_t", "ssize_t", "uintptr_t", "intptr_t", "ptrdiff_t", "resource_size_t", "phys_addr_t", "dma_addr_t", "ulong", "gsize", "gssize", "unsigned_long", "long_int"])
# Types that are 64 bits on every host (off_t is taken as built with _FILE_OFFSET_BITS=64).
WIDE_TYPES = frozenset(["uint64_t", "int64_t", "u64", "s64", "__u64", "__s64", "__le64", "__be64", "guint64", "gint64", "uint64", "int64", "hwaddr", "ram_addr_t", "off_t", "off64_t", "loff_t", "__kernel_loff_t", "unsigned_long_long", "long_long", "rte_iova_t", "iova_t", "__aligned_u64", "__int128"])
QUALIFIERS = frozenset(["const", "volatile", "static", "extern", "register", "inline", "restrict", "__restrict", "__restrict__", "struct", "union", "enum", "__extension__", "_Atomic", "__const"])
WORD_RE = re.compile(r"[A-Za-z_]\w*")


def width_class(type_text: str) -> str | None:
    """Classify a base type: ``narrow`` (<= 32 bits), ``word`` (pointer-wide), ``wide`` (64)."""
    words = [w for w in WORD_RE.findall(type_text) if w not in QUALIFIERS]
    if not words:
        return None
    if words.count("long") >= 2 or any(w in WIDE_TYPES for w in words):
        return "wide"
    if any(w in WORD_TYPES for w in words):
        return "word"
    if all(w in NARROW_TYPES for w in words) or any(
        w in NARROW_TYPES - {"unsigned", "signed"} for w in words
    ):
        return "narrow"
    return None


@dataclass(frozen=True, slots=True)
class CType:
    """A type as far as the rules care: base type text (typedefs resolved where known), the
    number of ``*``, whether it is an array, and the record tag it names, if any."""

    base: str
    pointer: int = 0
    array: bool = False
    record: str | None = None

    @property
    def width(self) -> str | None:
        """Return the width class of a scalar (None for pointers, arrays and records)."""
        if self.pointer or self.array or self.record is not None:
            return None
        return width_class(self.base)

    def element(self) -> CType:
        """Return the type of ``x[i]`` or ``*x`` for a value of this type."""
        if self.array:
            return CType(self.base, self.pointer, False, self.record)
        return CType(self.base, max(self.pointer - 1, 0), False, self.record)

    def shown(self) -> str:
        """Return the type as a reviewer reads it."""
        return " ".join(self.base.split()) + ("*" * self.pointer) + ("[]" if self.array else "")


def record_tag(type_text: str) -> str | None:
    """Return the tag of ``struct X``/``union X`` written in a type, None otherwise."""
    m = re.match(r"^\s*(?:const\s+|volatile\s+)*(struct|union)\s+([A-Za-z_]\w*)", type_text)
    return m.group(2) if m else None


def narrower_than(kind: str, ctype: CType) -> bool:
    """Tell whether a type loses bits of a region ``offset`` (on any 32-bit host) or ``size``
    (narrower than size_t)."""
    width = ctype.width
    if kind == "offset":
        return width in {"narrow", "word"}
    return width == "narrow"
