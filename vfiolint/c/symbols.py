"""Names and types of one parsed unit: functions, declarations in scope, records, typedefs,
macros and signatures, with the tree's ``Definitions`` answering for what the unit does not
define itself.

Everything is computed on first use and cached: a rule that asks about one function never
pays for the rest of the file.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import TypeVar

from tree_sitter import Node, Tree

from vfiolint.c import cparse
from vfiolint.c.definitions import (
    NO_DEFINITIONS,
    Definitions,
    FunctionDef,
    Lookup,
    Member,
    Where,
)
from vfiolint.c.syntax import (
    declarator_kinds,
    declarator_name,
    function_declarator,
    function_name,
    parameters,
    parents_below,
    text_of,
    unwrap,
    walk,
)
from vfiolint.c.types import CType, record_tag

MAX_TYPEDEF_DEPTH = 6
# the node kinds the unit's tables (and its call graph) are made of, collected in one walk
CATALOGUED = ("function_definition", "declaration", "type_definition", "struct_specifier",
              "union_specifier", "call_expression")
FUNCTION = frozenset({"function_definition"})
T = TypeVar("T")
DEFINE_RE = re.compile(rb"^[ \t]*#[ \t]*define[ \t]+([A-Za-z_]\w*)(\([^)]*\))?[ \t]*(.*)$")


@dataclass(frozen=True, slots=True)
class Declared:
    """A declared name: its type, where it is declared, and what kind of storage it is.

    ``kind`` is ``local``, ``param``, ``global``, ``field`` or ``external`` (known only from
    the tree's definitions); ``fn`` is the function a local or parameter belongs to."""

    name: str
    ctype: CType
    kind: str
    node: Node | None = None
    fn: Node | None = None
    index: int = -1  # a parameter's position

    @property
    def line(self) -> int | None:
        """Return the 1-based line of the declaration, if it is in this unit."""
        return self.node.start_point.row + 1 if self.node is not None else None


def pointer_depth(declarator: Node | None) -> int:
    """Count the ``*`` of a declarator."""
    return declarator_kinds(declarator).count("pointer_declarator")


@dataclass
class Symbols:
    """Answers "what is this name, and of what type?" for one parsed unit."""

    tree: Tree
    path: str = ""
    definitions: Definitions = NO_DEFINITIONS
    ambiguous: set[str] = field(default_factory=set)
    _functions: list[Node] | None = None
    _by_name: dict[str, list[Node]] = field(default_factory=dict)
    _scopes: dict[int, dict[str, Declared]] = field(default_factory=dict)
    _records: dict[str, list[Node]] | None = None
    _typedefs: dict[str, Node] | None = None
    _macros: dict[str, tuple[tuple[str, ...] | None, str, int]] | None = None
    _fields: dict[str, dict[str, CType]] = field(default_factory=dict)
    _signatures: dict[str, tuple[list[tuple[str, CType]], CType] | None] = field(
        default_factory=dict)
    _externals: dict[str, FunctionDef | None] = field(default_factory=dict)
    _parents: dict[int, Node] | None = None
    _tags: frozenset[str] | None = None
    _starts: list[int] | None = None
    _kinds: dict[str, list[Node]] | None = None
    _decl_starts: list[int] | None = None
    _prototypes: dict[str, Node] | None = None
    _fn_parents: dict[int, dict[int, Node]] = field(default_factory=dict)

    @property
    def root(self) -> Node:
        """Return the root node."""
        return self.tree.root_node

    # Functions -------------------------------------------------------------------------------

    def _of_kind(self, kind: str) -> list[Node]:
        """Return the unit's nodes of one of the kinds the tables are made of, in document
        order; one walk of the tree collects them all."""
        if self._kinds is None:
            kinds: dict[str, list[Node]] = {k: [] for k in CATALOGUED}
            for n in cparse.nodes_of(self.root, CATALOGUED):
                kinds[n.type].append(n)
            self._kinds = kinds
        return self._kinds[kind]

    def functions(self) -> list[Node]:
        """Return every function definition of the unit, in order."""
        if self._functions is None:
            self._functions = self._of_kind("function_definition")
            for fn in self._functions:
                name = function_name(fn)
                if name:
                    self._by_name.setdefault(name, []).append(fn)
        return self._functions

    def calls(self) -> list[Node]:
        """Return every call expression of the unit, in document order."""
        return self._of_kind("call_expression")

    def by_name(self, name: str) -> list[Node]:
        """Return the unit's definitions of a function."""
        self.functions()
        return self._by_name.get(name, [])

    def prototype(self, name: str) -> Node | None:
        """Return the unit's first file-scope declaration of a function (its prototype), which
        the compiler sees before any header: ``void *map(int fd, uint32_t off);``. A pointer
        to a function (``int (*fp)(int);``) declares a variable, not a function."""
        if self._prototypes is None:
            self._prototypes = {}
            for decl in self._of_kind("declaration"):
                declarator = function_declarator(decl)
                inner = declarator.child_by_field_name("declarator") if declarator else None
                if inner is None or inner.type != "identifier" or \
                        self.function_of(decl) is not None:
                    continue
                self._prototypes.setdefault(text_of(inner), decl)
        return self._prototypes.get(name)

    def parent(self, node: Node) -> Node | None:
        """Return a node's parent in constant time.

        The maps are built on first use: one of the file scope, which stops at function
        definitions, and one per function, as a rule climbs inside the few it looks at."""
        fn = self.function_of(node) if node.type != "function_definition" else None
        if fn is None:
            if self._parents is None:
                self._parents = parents_below(self.root, FUNCTION)
            found = self._parents.get(node.id)
            return found if found is not None or node.id == self.root.id else node.parent
        table = self._fn_parents.get(fn.id)
        if table is None:
            table = self._fn_parents[fn.id] = parents_below(fn)
        found = table.get(node.id)
        # a zero-width MISSING node at a function's end lies within its bytes, not below it
        return found if found is not None else node.parent

    def enclosing(self, node: Node, *kinds: str) -> Node | None:
        """Return the nearest proper ancestor of one of the given types."""
        current = self.parent(node)
        while current is not None:
            if current.type in kinds:
                return current
            current = self.parent(current)
        return None

    def function_of(self, node: Node) -> Node | None:
        """Return the function definition around a node (by position: no climbing)."""
        functions = self.functions()
        if self._starts is None:
            self._starts = [fn.start_byte for fn in functions]
        k = bisect.bisect_right(self._starts, node.start_byte) - 1
        while k >= 0:
            fn = functions[k]
            if fn.start_byte <= node.start_byte and node.end_byte <= fn.end_byte and \
                    fn.id != node.id:
                return fn
            if fn.end_byte < node.start_byte:
                return None
            k -= 1
        return None

    # Declarations ----------------------------------------------------------------------------

    def scope(self, place: Node) -> dict[str, Declared]:
        """Index the names a function (parameters, then locals) or the file scope declares;
        the first declaration of a name wins."""
        cached = self._scopes.get(place.id)
        if cached is not None:
            return cached
        table: dict[str, Declared] = {}
        is_file = place.id == self.root.id
        if not is_file:
            for i, param in enumerate(parameters(place)):
                for name, declarator in _declared_names(param):
                    table.setdefault(name, self._declared(name, param, declarator, "param",
                                                          place, i))
        for decl in self._declarations_in(place):
            if is_file and self.function_of(decl) is not None:
                continue
            for name, declarator in _declared_names(decl):
                kind = "global" if is_file else "local"
                table.setdefault(name, self._declared(name, decl, declarator, kind,
                                                      None if is_file else place))
        self._scopes[place.id] = table
        return table

    def _declarations_in(self, place: Node) -> list[Node]:
        """Return the declarations inside a node (itself included), in document order."""
        decls = self._of_kind("declaration")
        if place.id == self.root.id:
            return decls
        if self._decl_starts is None:
            self._decl_starts = [d.start_byte for d in decls]
        k = bisect.bisect_left(self._decl_starts, place.start_byte)
        out = []
        while k < len(decls) and decls[k].start_byte < place.end_byte:
            if decls[k].end_byte <= place.end_byte:
                out.append(decls[k])
            k += 1
        return out

    def _declared(self, name: str, decl: Node, declarator: Node, kind: str, fn: Node | None,
                  index: int = -1) -> Declared:
        """Describe one declared name."""
        return Declared(name, self.ctype(decl.child_by_field_name("type"), declarator), kind,
                        declarator, fn, index)

    def lookup(self, name: str, at: Node) -> Declared | None:
        """Find the declaration of a variable visible at a node: function scope, then file."""
        fn = self.function_of(at)
        if fn is not None:
            found = self.scope(fn).get(name)
            if found is not None:
                return found
        return self.scope(self.root).get(name)

    # Types -----------------------------------------------------------------------------------

    def records(self) -> dict[str, list[Node]]:
        """Return the unit's struct and union bodies by tag (anonymous ones by position)."""
        if self._records is None:
            self._records = {}
            specs = sorted(self._of_kind("struct_specifier") + self._of_kind("union_specifier"),
                           key=lambda n: (n.start_byte, -n.end_byte))
            for n in specs:
                if n.child_by_field_name("body") is not None:
                    self._records.setdefault(self.record_id(n), []).append(n)
        return self._records

    @staticmethod
    def record_id(spec: Node) -> str:
        """Name a struct or union specifier: its tag, or ``anon@<offset>`` for one without."""
        tag = spec.child_by_field_name("name")
        return text_of(tag) if tag is not None else f"anon@{spec.start_byte}"

    def typedefs(self) -> dict[str, Node]:
        """Return the unit's typedefs: name -> type_definition node."""
        if self._typedefs is None:
            self._typedefs = {}
            for n in self._of_kind("type_definition"):
                for d in n.children_by_field_name("declarator"):
                    name = declarator_name(d)
                    if name:
                        self._typedefs[name] = n
        return self._typedefs

    def ctype(self, type_node: Node | None, declarator: Node | None = None) -> CType:
        """Return the type a declaration gives a name, typedefs of the unit and tree resolved."""
        pointer = pointer_depth(declarator)
        array = "array_declarator" in declarator_kinds(declarator)
        if type_node is None:
            return CType("?", pointer, array)
        if type_node.type in {"struct_specifier", "union_specifier"}:
            tag = type_node.child_by_field_name("name")
            if tag is None and type_node.child_by_field_name("body") is None:
                return CType(text_of(type_node), pointer, array)
            return CType(text_of(type_node).split("{")[0].strip(), pointer, array,
                         self.record_id(type_node))
        if type_node.type == "type_identifier":
            return self.resolve_typedef(text_of(type_node), pointer, array)
        return CType(text_of(type_node), pointer, array)

    def resolve_typedef(self, name: str, pointer: int = 0, array: bool = False) -> CType:
        """Follow a typedef name to its base type (unit first, then the tree)."""
        for _ in range(MAX_TYPEDEF_DEPTH):
            tdef = self.typedefs().get(name)
            if tdef is not None:
                inner = tdef.child_by_field_name("type")
                declarator = next((d for d in tdef.children_by_field_name("declarator")
                                   if declarator_name(d) == name), None)
                pointer += pointer_depth(declarator)
                if inner is None:
                    return CType(name, pointer, array)
                if inner.type in {"struct_specifier", "union_specifier"}:
                    tag = inner.child_by_field_name("name")
                    rid = self.record_id(inner) if (tag is not None or inner.child_by_field_name(
                        "body") is not None) else None
                    return CType(text_of(inner).split("{")[0].strip(), pointer, array, rid)
                if inner.type != "type_identifier":
                    return CType(text_of(inner), pointer, array)
                name = text_of(inner)
                continue
            tdef_found = self._remember(name, self.definitions.typedef(name, self.path))
            if tdef_found is None:
                # QEMU's convention, typedef struct Foo Foo; with the body here.
                if name in self.records():
                    return CType(f"struct {name}", pointer, array, name)
                return CType(name, pointer, array)
            pointer += tdef_found.pointer
            if tdef_found.record is not None:
                return CType(tdef_found.type, pointer, array, tdef_found.record)
            target = tdef_found.type.strip()
            target_tag = record_tag(target)
            if target_tag is not None:
                return CType(target, pointer, array, target_tag)
            if re.fullmatch(r"[A-Za-z_]\w*", target) and target != name:
                name = target
                continue
            return CType(target, pointer, array)
        return CType(name, pointer, array)

    def _remember(self, name: str, lookup: Lookup[T]) -> T | None:
        """Return a lookup's definition, recording a name that was ambiguous."""
        if lookup.ambiguous:
            self.ambiguous.add(name)
        return lookup.found

    def fields(self, record: str) -> dict[str, CType]:
        """Return the member types of a record (by id), from the unit or the tree."""
        cached = self._fields.get(record)
        if cached is not None:
            return cached
        table: dict[str, CType] = {}
        bodies = self.records().get(record, [])
        if bodies:
            body = bodies[0].child_by_field_name("body")
            for decl in body.named_children if body is not None else []:
                if decl.type != "field_declaration":
                    continue
                type_node = decl.child_by_field_name("type")
                for name, declarator in _declared_names(decl):
                    table.setdefault(name, self.ctype(type_node, declarator))
        elif not record.startswith("anon@"):
            rec = self._remember(record, self.definitions.record(record, self.path))
            for member in rec.members if rec is not None else ():
                table.setdefault(member.name, self.member_type(member))
        self._fields[record] = table
        return table

    def member_type(self, member: Member) -> CType:
        """Return the type of a member or parameter known only from the tree's definitions."""
        base = member.type.strip()
        tag = record_tag(base)
        if tag is not None:
            return CType(base, member.pointer, member.array, tag)
        if re.fullmatch(r"[A-Za-z_]\w*", base):
            return self.resolve_typedef(base, member.pointer, member.array)
        return CType(base, member.pointer, member.array)

    def type_of(self, expr: Node) -> CType | None:
        """Infer the type of an expression: a variable, a member, an element, a dereference, a
        cast, or a call's return type."""
        expr = unwrap(expr)
        kind = expr.type
        if kind == "identifier":
            declared = self.lookup(text_of(expr), expr)
            return declared.ctype if declared is not None else None
        if kind == "subscript_expression":
            base = expr.child_by_field_name("argument")
            inner = self.type_of(base) if base is not None else None
            return inner.element() if inner is not None else None
        if kind == "pointer_expression":
            inner_node = expr.child_by_field_name("argument")
            inner = self.type_of(inner_node) if inner_node is not None else None
            if inner is None:
                return None
            if text_of(expr).lstrip().startswith("&"):
                return CType(inner.base, inner.pointer + 1, False, inner.record)
            return inner.element()
        if kind == "field_expression":
            return self.member_of(expr)
        if kind == "cast_expression":
            type_desc = expr.child_by_field_name("type")
            if type_desc is None:
                return None
            spec = type_desc.child_by_field_name("type")
            abstract = type_desc.child_by_field_name("declarator")
            ctype = self.ctype(spec, None)
            stars = text_of(abstract).count("*") if abstract is not None else 0
            return CType(ctype.base, ctype.pointer + stars, False, ctype.record)
        if kind == "call_expression":
            callee = expr.child_by_field_name("function")
            if callee is not None and callee.type == "identifier":
                return self.return_type(text_of(callee))
        return None

    def record_of(self, expr: Node) -> str | None:
        """Return the record id of the struct an expression's value is (or points to)."""
        ctype = self.type_of(expr)
        return ctype.record if ctype is not None else None

    def member_of(self, expr: Node) -> CType | None:
        """Return the declared type of a member access ``a.b`` / ``a->b``."""
        field_node = expr.child_by_field_name("field")
        base = expr.child_by_field_name("argument")
        if field_node is None or base is None:
            return None
        name = text_of(field_node)
        record = self.record_of(base)
        if record is not None:
            return self.fields(record).get(name)
        owner = self._guessed_owner(base, name)
        return self.fields(owner).get(name) if owner is not None else None

    def _guessed_owner(self, base: Node, name: str) -> str | None:
        """Guess the record of ``base.name`` when ``base``'s declaration is out of sight (a
        hunk): the only record of the unit with that member, if the variable's name and the
        record's tag share a word (``bar`` and ``pci_vfio_bar``; not ``maps`` and
        ``memreg``)."""
        root = next((n for n in walk(base) if n.type == "identifier"), None)
        if root is None or self.lookup(text_of(root), base) is not None:
            return None
        var = text_of(root).lower().rstrip("s0123456789_")

        def likeness(tag: str) -> int:
            """2: a word of the tag is the variable's name; 1: they overlap; 0: unrelated."""
            words = {w for w in re.split(r"[_\W]+", tag.lower()) if len(w) >= 3}
            if not var:
                return 0
            if var in words:
                return 2
            return int(var in tag.lower() or any(w in var for w in words))

        # A record in view with that member, or one the unit names by tag (its body in a
        # header): the one whose name is the variable's (``maps[i]``, ``struct pci_map``).
        owners = {rid for rid in self.records() if name in self.fields(rid)}
        owners |= {t for t in self.named_records() if t not in self.records()}
        scored = sorted(((likeness(t), t) for t in owners), reverse=True)
        if not scored or scored[0][0] == 0 or (len(scored) > 1 and scored[1][0] == scored[0][0]):
            return None
        return scored[0][1]

    def named_records(self) -> frozenset[str]:
        """Return the tags of every struct or union the unit names, with or without a body."""
        if self._tags is None:
            specs = self._of_kind("struct_specifier") + self._of_kind("union_specifier")
            self._tags = frozenset(text_of(tag) for n in specs
                                   if (tag := n.child_by_field_name("name")) is not None)
        return self._tags

    def member_owner(self, expr: Node) -> str:
        """Name the record a member access belongs to: its id, or ``?`` when unknown."""
        base = expr.child_by_field_name("argument")
        record = self.record_of(base) if base is not None else None
        if record is not None:
            return record
        field_node = expr.child_by_field_name("field")
        name = text_of(field_node)
        owner = self._guessed_owner(base, name) if base is not None else None
        return owner if owner is not None else "?"

    # Functions' signatures and macros ---------------------------------------------------------

    def signature(self, name: str) -> tuple[list[tuple[str, CType]], CType] | None:
        """Return a function's parameters (name, type) and return type: from its definition in
        the unit, else from the tree (cached: a trace asks at every call it passes)."""
        if name not in self._signatures:
            self._signatures[name] = self._signature(name)
        return self._signatures[name]

    def return_type(self, name: str) -> CType | None:
        """Return the type a function returns (the unit's, else the tree's)."""
        if self.by_name(name) or name in self._signatures or self.prototype(name):
            sig = self.signature(name)
            return sig[1] if sig is not None else None
        found = self._external(name)
        return None if found is None else self.member_type(
            Member("", found.returns, found.returns_pointer))

    def parameter(self, name: str, index: int) -> tuple[str, CType] | None:
        """Return one parameter (name, type) of a function: only that one's type is worked
        out for a function of the tree (a call passes one traced argument)."""
        if self.by_name(name) or name in self._signatures or self.prototype(name):
            sig = self.signature(name)
            return sig[0][index] if sig is not None and 0 <= index < len(sig[0]) else None
        found = self._external(name)
        if found is None or not 0 <= index < len(found.params):
            return None
        member = found.params[index]
        return member.name, self.member_type(member)

    def _external(self, name: str) -> FunctionDef | None:
        """Return the tree's definition of a function the unit does not define (cached)."""
        if name not in self._externals:
            self._externals[name] = self._remember(name, self.definitions.function(
                name, self.path))
        return self._externals[name]

    def _signature(self, name: str) -> tuple[list[tuple[str, CType]], CType] | None:
        """Work out a function's signature (``signature``): its definition in the unit, else
        its prototype there, else the tree's."""
        prototype = self.prototype(name)
        for fn in self.by_name(name)[:1] or ([prototype] if prototype is not None else []):
            params = []
            for param in parameters(fn):
                names: list[tuple[str, Node | None]] = [*_declared_names(param)] or [("", None)]
                for pname, declarator in names:
                    params.append((pname, self.ctype(param.child_by_field_name("type"),
                                                     declarator)))
            returns = self.ctype(fn.child_by_field_name("type"), fn.child_by_field_name(
                "declarator"))
            return params, returns
        sig = self._external(name)
        if sig is None:
            return None
        params = [(m.name, self.member_type(m)) for m in sig.params]
        return params, self.member_type(Member("", sig.returns, sig.returns_pointer))

    def macros(self) -> dict[str, tuple[tuple[str, ...] | None, str, int]]:
        """Return the unit's own #defines: name -> (parameters or None, body, 1-based line)."""
        if self._macros is None:
            self._macros = {}
            text = self.root.text or b""
            lines = text.split(b"\n")
            row = 0
            while row < len(lines):
                start = row
                line = lines[row]
                while line.endswith(b"\\") and row + 1 < len(lines):
                    row += 1
                    line = line[:-1] + b" " + lines[row]
                m = DEFINE_RE.match(line)
                if m:
                    params = None
                    if m.group(2) is not None:
                        params = tuple(p.strip() for p in m.group(2)[1:-1].decode(
                            "utf-8", "replace").split(",") if p.strip())
                    self._macros.setdefault(m.group(1).decode(), (
                        params, m.group(3).decode("utf-8", "replace"), start + 1))
                row += 1
        return self._macros

    def macro(self, name: str) -> tuple[tuple[str, ...] | None, str, Where] | None:
        """Return a macro's parameters, body and place: the unit's own, else the tree's."""
        own = self.macros().get(name)
        if own is not None:
            return own[0], own[1], Where(self.path, own[2])
        found = self._remember(name, self.definitions.macro(name, self.path))
        if found is None:
            return None
        return found.params, found.body, found.where


def _declared_names(decl: Node) -> list[tuple[str, Node]]:
    """Return (name, declarator) for each name a declaration, field or parameter declares."""
    out = []
    for child in decl.children_by_field_name("declarator"):
        name = declarator_name(child)
        if name:
            out.append((name, child))
    return out
