"""Types a unit does not define, asked of its tree (``unit.definitions``) for ``Facts``.

A struct declared in a header comes back as a ``RecordDef`` (member names and types as
written); ``Facts`` reads struct bodies as tree-sitter nodes, so the record is written out as a
small C declaration and parsed: ``field_in`` and ``type_text`` then work on it unchanged.
"""

from __future__ import annotations

import re
from functools import lru_cache

from tree_sitter import Node, Tree

from vfiolint.c import cparse
from vfiolint.c.definitions import Definitions, Member

_NAME_RE = re.compile(r"[A-Za-z_]\w*")


@lru_cache(maxsize=256)
def _record_tree(kind: str, tag: str, members: tuple[Member, ...]) -> Tree:
    """Parse a record written out from its members."""
    fields = " ".join(f"{m.type} {'*' * m.pointer}{m.name}{'[1]' if m.array else ''};"
                      for m in members)
    return cparse.parse(f"{kind} {tag} {{ {fields} }};".encode("utf-8", "surrogateescape"))


def record_node(definitions: Definitions, tag: str, near: str) -> Node | None:
    """Return the body node of a struct or union the tree defines for ``near`` (None when the
    tree has none, or several that differ)."""
    found = definitions.record(tag, near).found
    if found is None:
        return None
    tree = _record_tree(found.kind, found.tag, found.members)
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type in {"struct_specifier", "union_specifier"} and \
                node.child_by_field_name("body") is not None:
            return node
        stack.extend(reversed(node.children))
    return None


def typedef_text(definitions: Definitions, name: str, near: str) -> str | None:
    """Return the base type a typedef of the tree names (None for a pointer typedef, an
    unknown or ambiguous name)."""
    if not _NAME_RE.fullmatch(name):
        return None
    found = definitions.typedef(name, near).found
    if found is None or found.pointer:
        return None
    return found.type


def typedef_record(definitions: Definitions, name: str, near: str) -> Node | None:
    """Return the record a typedef of the tree names (``typedef struct x {…} x_t;``)."""
    if not _NAME_RE.fullmatch(name):
        return None
    found = definitions.typedef(name, near).found
    if found is None or found.pointer or found.record is None:
        return None
    return record_node(definitions, found.record, near)
