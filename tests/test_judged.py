"""An image judged once is judged the same in another tree only while that tree answers its
questions the same: real git trees, real rules, the engine's own cache."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tests.test_git import commit, git
from vfiolint import gitstore
from vfiolint.c.index import Repository, TreeSpec
from vfiolint.c.resolve import TreeDefinitions
from vfiolint.inputs.images import Tree as ImageTree
from vfiolint.inputs.images import file_unit
from vfiolint.rules import engine
from vfiolint.rules.loader import load_rules

HEADER = "#include <stdint.h>\ntypedef {width} region_off_t;\n"
CODE = """\
#include <stdint.h>
#include <linux/vfio.h>
#include "regions.h"

struct bar_map {
    region_off_t offset;
};

static int map_region(int fd, struct vfio_region_info *info, struct bar_map *map)
{
    map->offset = info->offset;
    return 0;
}
"""


@pytest.fixture(autouse=True)
def _fresh_engine() -> None:
    """Start each test with nothing judged (the caches outlive a test otherwise)."""
    engine._JUDGED.clear()
    engine._cached_match.cache_clear()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    commit(path, {"drivers/regions.h": HEADER.format(width="uint64_t"),
                  "drivers/pci_vfio.c": CODE}, "start")
    return path


def _judged(repo: Path, index: Repository) -> tuple[list[engine.Match], object]:
    """Judge drivers/pci_vfio.c, as HEAD's tree has it, with VFIO003."""
    tree = ImageTree(TreeDefinitions(index, TreeSpec(gitstore.tree_of(repo, "HEAD"))), "tree")
    rules = [r for r in load_rules() if r.id == "VFIO003"]
    return engine.match(rules, file_unit("drivers/pci_vfio.c", CODE.encode(), tree))


def test_the_same_text_in_a_tree_that_answers_alike_is_judged_once(repo: Path) -> None:
    index = Repository(repo)
    first = _judged(repo, index)
    commit(repo, {"README": "unrelated\n"}, "docs")  # another tree, the same answers
    again = _judged(repo, index)
    assert again is first  # kept, not judged again
    assert first[0] == []  # the 64-bit offset type narrows nothing


def test_a_tree_that_answers_otherwise_has_the_text_judged_again(repo: Path) -> None:
    index = Repository(repo)
    wide, _ = _judged(repo, index)
    commit(repo, {"drivers/regions.h": HEADER.format(width="uint32_t")}, "narrow the type")
    narrow, _ = _judged(repo, index)  # the same text: the header's typedef decides
    assert wide == [] and [m.rule.id for m in narrow] == ["VFIO003"]
    commit(repo, {"drivers/regions.h": HEADER.format(width="uint64_t")}, "widen it again")
    assert _judged(repo, index)[0] == []


def test_a_kept_judgement_is_checked_against_a_fresh_one(repo: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """VFIOLINT_CHECK_JUDGED=1 judges a kept image again and compares: a kept judgement that
    differs from a fresh one is an error, never a silent answer."""
    index = Repository(repo)
    first = _judged(repo, index)
    commit(repo, {"README": "unrelated\n"}, "docs")
    monkeypatch.setenv("VFIOLINT_CHECK_JUDGED", "1")
    [(key, [(asked, kept)])] = engine._JUDGED.items()
    assert kept is first
    engine._JUDGED[key] = [(asked, (kept[0], replace(kept[1], error_nodes=7)))]  # kept wrong
    with pytest.raises(AssertionError, match="judged again in another tree differs"):
        _judged(repo, index)
