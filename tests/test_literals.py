"""Queries of a whole unit run only on the file-scope items that can hold a match: they find
exactly what a query of the whole unit finds."""

from __future__ import annotations

import re
import tomllib

import pytest
from tree_sitter import QueryCursor

from tests.conftest import ROOT
from vfiolint.c import cparse
from vfiolint.c.facts import Facts
from vfiolint.rules import literals
from vfiolint.rules.literals import query_needs, regex_needs

RULE_FILES = sorted((ROOT / "rules").glob("*/*.toml"))
QUERY_KEYS = ("query", "sources", "sinks", "barriers", "sanitizers", "gate", "context")


def bundled_queries() -> list[str]:
    out = []
    for file in RULE_FILES:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
        out += [data[k] for k in QUERY_KEYS if isinstance(data.get(k), str)]
        for flow in data.get("flow", []):
            out += [flow[k] for k in QUERY_KEYS if isinstance(flow.get(k), str)]
    return out


def corpus_c() -> list[bytes]:
    files = sorted((ROOT / "corpus").rglob("*.c")) + sorted((ROOT / "rules").glob("*/*.c"))
    return [p.read_bytes() for p in files]


def test_a_regular_expression_needs_the_texts_every_match_holds() -> None:
    assert regex_needs("^(pread|pread64|pwrite|pwrite64)$") == (
        frozenset({"pread", "pread64", "pwrite", "pwrite64"}), False)
    assert regex_needs("^PCI_(READ|WRITE)_CONFIG_(WORD|DWORD)$") == (frozenset(
        {"PCI_READ_CONFIG_WORD", "PCI_READ_CONFIG_DWORD", "PCI_WRITE_CONFIG_WORD",
         "PCI_WRITE_CONFIG_DWORD"}), False)
    assert regex_needs("(?i)VFIO_") == (frozenset({"vfio_"}), True)  # compared case-blind
    assert regex_needs("a?bc") == (frozenset({"bc"}), False)  # "a" may be absent
    assert regex_needs("x(?i:abc)y") is None  # a group with a case of its own is left alone
    assert regex_needs("^(fd|[a-z]+)$") is None  # one branch needs nothing
    assert regex_needs("(") is None  # not a regular expression


@pytest.mark.parametrize("query_text", bundled_queries(), ids=lambda q: q.strip()[:40])
def test_every_string_a_predicate_matches_holds_a_needed_text(query_text: str) -> None:
    words = {w for text in corpus_c() for w in re.findall(rb"[A-Za-z_][A-Za-z0-9_]*", text)}
    words |= {b"PCI_READ_CONFIG_WORD", b"pread64", b"vfio_dev_fd", b"container", b"close"}
    for m in literals.PREDICATE_RE.finditer(query_text):
        if m.group(1) != "match":
            continue
        pattern = literals._unescape(literals.STRING_RE.findall(m.group(3))[0])
        needs = regex_needs(pattern)
        if needs is None:
            continue
        texts, fold = needs
        for word in words:
            text = word.decode()
            if re.search(pattern, text):
                seen = text.lower() if fold else text
                assert any(t in seen for t in texts), (pattern, text)


LEADING = b"\n\n\n/* a comment */\n\n"
PREPROC = b"""#ifdef HAVE_VFIO
static int vfio_cfg_poke(int fd, unsigned len)
{
\tunsigned val = 0;
\tpwrite(fd, &val, len, 0);
\tclose(fd);
\treturn 0;
}
#endif
"""


@pytest.mark.parametrize("query_text", bundled_queries(), ids=lambda q: q.strip()[:40])
def test_a_query_restricted_to_the_items_that_hold_its_texts_finds_every_match(
        query_text: str) -> None:
    query = cparse.query(query_text)
    sources = corpus_c()
    sources += [LEADING + s for s in sources[:20]] + [PREPROC, LEADING + PREPROC]
    for source in sources:
        tree = cparse.parse(cparse.valid_utf8(source))
        facts = Facts(tree)
        plain = [(p, sorted((k, [(n.start_byte, n.end_byte) for n in v]) for k, v in c.items()))
                 for p, c in QueryCursor(query).matches(tree.root_node)]
        cursor = QueryCursor(query)
        narrowed = [(p, sorted((k, [(n.start_byte, n.end_byte) for n in v])
                               for k, v in c.items()))
                    for place in literals.places(query_text, tree.root_node, facts)
                    for p, c in cursor.matches(place)]
        assert narrowed == plain


def test_a_query_is_restricted_only_when_each_pattern_needs_a_text() -> None:
    close = '((call_expression function: (identifier) @fn) @c (#eq? @fn "close"))'
    assert query_needs(close) is not None
    # one pattern that needs nothing: the whole unit is searched
    assert query_needs(close + "\n((number_literal) @n)") is None
    # a capture in one branch of an alternation may be absent: its predicate says nothing
    assert query_needs('([(identifier) @a (number_literal) @b] (#eq? @a "close"))') is None
    facts = Facts(cparse.parse(LEADING + PREPROC))
    places = literals.places(close, facts.root, facts)
    assert [p.type for p in places] == ["preproc_ifdef"]


def test_a_context_of_whole_functions_is_asked_of_the_unit_once() -> None:
    assert literals.rooted_only_at(
        "((function_definition) @context (#vf-vfio-code? @context))", "function_definition")
    assert not literals.rooted_only_at(
        "((field_expression field: (field_identifier) @f) @context)", "function_definition")
    assert not literals.rooted_only_at("((function_definition) @a (comment) @b)",
                                       "function_definition")  # side by side


@pytest.mark.parametrize("query_text", bundled_queries(), ids=lambda q: q.strip()[:40])
def test_a_query_whose_matches_lie_in_one_item_finds_them_item_by_item(
        query_text: str) -> None:
    if not literals.within_items(query_text):
        return  # asked of the whole unit: nothing to compare
    query = cparse.query(query_text)
    sources = corpus_c()
    sources += [LEADING + s for s in sources[:20]] + [PREPROC, LEADING + PREPROC]
    for source in sources:
        tree = cparse.parse(cparse.valid_utf8(source))
        plain = [(p, sorted((k, [(n.start_byte, n.end_byte) for n in v]) for k, v in c.items()))
                 for p, c in QueryCursor(query).matches(tree.root_node)]
        cursor = QueryCursor(query)
        itemwise = [(p, sorted((k, [(n.start_byte, n.end_byte) for n in v])
                               for k, v in c.items()))
                    for item in tree.root_node.children for p, c in cursor.matches(item)]
        assert itemwise == plain


def test_a_match_lies_in_one_item_only_when_its_root_is_below_the_unit() -> None:
    assert literals.within_items('((call_expression) @c (#eq? @c "x"))')
    # a wildcard with a field: the unit has no fields
    assert literals.within_items("((_ condition: (parenthesized_expression)) @c)")
    assert not literals.within_items("((_) @any)")  # the unit itself is a node
    assert not literals.within_items("((translation_unit) @unit)")
    assert not literals.within_items("[(identifier) (number_literal)] @x")  # not one root
    assert not literals.within_items("((identifier) @a . (identifier) @b)")  # side by side


def test_a_bare_kind_is_every_node_of_the_kind_tested_by_vfiolint_predicates() -> None:
    assert literals.bare_kind("((function_definition) @context (#vf-vfio-code? @context))") \
        == ("function_definition", "context")
    assert literals.bare_kind("((function_definition) @f)") == ("function_definition", "f")
    # tree-sitter's own predicates, a child or a second pattern: not every node of the kind
    assert literals.bare_kind('((identifier) @x (#eq? @x "fd"))') is None
    assert literals.bare_kind("((function_definition body: (_)) @f)") is None
    assert literals.bare_kind("((function_definition) @f) ((declaration) @d)") is None
