"""A text close to one parsed just before is parsed from that tree (incrementally): the tree
is the one a parse from scratch gives."""

from __future__ import annotations

import pytest

from tests.test_literals import corpus_c
from vfiolint.c import cparse


def test_a_text_parsed_from_a_close_one_gets_the_tree_a_fresh_parse_gives(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cparse, "MIN_REUSED", 0)  # the small texts too
    started = []
    closest = cparse._closest

    def spy(source: bytes) -> object:
        found = closest(source)
        started.append(found is not None)
        return found

    monkeypatch.setattr(cparse, "_closest", spy)
    sources = corpus_c()
    for source in sources:
        middle = source.find(b"\n", len(source) // 2) + 1
        edits = [
            source[:middle] + b"\tint added_line = 1;\n" + source[middle:],
            source[:middle] + source[middle + 40:],  # bytes taken out
            b"/* head */\n" + source,
            source + b"\nstatic int tail(void) { return 0; }\n",
            source[:middle] + b"{{{ broken (" + source[middle:],
        ]
        cparse.parse(source)
        for edited in edits:
            incremental = cparse.parse(edited)
            assert str(incremental.root_node) == str(cparse.parser().parse(edited).root_node)
    assert started.count(True) == 5 * len(sources)  # every edited text started from a tree
