"""Every rule file validates, and its annotated C test beside it behaves as annotated.

Annotations sit on the line before the code they speak of: ``// ruleid: ID`` (must fire there),
``// ok: ID`` (must not), ``// todoruleid: ID`` (a known miss), ``// todook: ID`` (a known false
positive). A ``// path: P`` line anywhere names the path the file is checked as (rules may
depend on it). Results read reported / missing / noisy; a todo that starts passing fails.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from tests.conftest import ROOT
from vfiolint.inputs.images import file_unit
from vfiolint.rules.engine import check_source
from vfiolint.rules.loader import DOC_HEADINGS, Rule, check_rule, load_rules

RULE_FILES = sorted((ROOT / "rules").rglob("*.toml"))
ANNOTATION_RE = re.compile(r"^\s*//\s*(ruleid|ok|todoruleid|todook):\s*(VFIO\d{3})\s*$")
PATH_RE = re.compile(r"^\s*//\s*path:\s*(\S+)\s*$", re.MULTILINE)
CONTRACT_IDS = {
    "VFIO001": "dma-map-file-private",
    "VFIO002": "mmap-subpage-region",
    "VFIO003": "region-offset-truncated",
    "VFIO004": "dmabuf-unmappable-bar",
    "VFIO005": "msix-table-mmap",
}


def annotations(text: str) -> list[tuple[str, str, int]]:
    """Return (kind, rule, line) for each annotation, ``line`` being the code line it names."""
    lines = text.splitlines()
    out = []
    for i, line in enumerate(lines):
        m = ANNOTATION_RE.match(line)
        if not m:
            continue
        j = i + 1
        while j < len(lines) and ANNOTATION_RE.match(lines[j]):
            j += 1
        out.append((m.group(1), m.group(2), j + 1))
    return out


@pytest.mark.parametrize("file", RULE_FILES, ids=lambda p: p.stem)
def test_rule_file_is_valid(file: Path) -> None:
    data = tomllib.loads(file.read_text(encoding="utf-8"))
    assert check_rule(data, file, ROOT) == []  # with ROOT: corpus files must exist
    for heading in DOC_HEADINGS:
        section = data["doc"].split(heading, 1)[1].split("\n## ", 1)[0]
        assert section.strip(), f"{heading} is empty"


def test_contract_ids_and_names(rules: list[Rule]) -> None:
    assert {r.id: r.name for r in rules} == CONTRACT_IDS


@pytest.mark.parametrize("file", RULE_FILES, ids=lambda p: p.stem)
def test_annotated_c(file: Path, rules: list[Rule]) -> None:
    test_file = file.with_suffix(".c")
    assert test_file.is_file(), f"{file.name} has no annotated test {test_file.name}"
    rule = next(r for r in rules if r.file == file)
    text = test_file.read_text(encoding="utf-8")
    marks = annotations(text)
    assert any(k == "ruleid" for k, _, _ in marks), "the test has no ruleid annotation"
    assert any(k == "ok" for k, _, _ in marks), "the test has no ok annotation"
    path_m = PATH_RE.search(text)
    path = path_m.group(1) if path_m else str(test_file.relative_to(ROOT))
    fired = {f.line for f in check_source(file_unit(path, text.encode()), [rule], path)[0]}
    problems = []
    for kind, rid, line in marks:
        if rid != rule.id:
            continue
        hit = line in fired
        if kind == "ruleid" and not hit:
            problems.append(f"missing: line {line}")
        if kind == "ok" and hit:
            problems.append(f"noisy: line {line}")
        if kind == "todoruleid" and hit:
            problems.append(f"todoruleid now reported at line {line}: make it ruleid")
        if kind == "todook" and not hit:
            problems.append(f"todook now silent at line {line}: make it ok")
    expected = {line for kind, rid, line in marks if rid == rule.id and kind in {"ruleid", "todook"}}
    problems += [f"reported without annotation: line {line}" for line in sorted(fired - expected)]
    assert problems == []


def test_load_reports_every_problem(tmp_path: Path) -> None:
    area = tmp_path / "rules" / "x"
    area.mkdir(parents=True)
    (area / "VFIO900-bad-one.toml").write_text('id = "VFIO900"\nname = "bad-one"\n')
    (area / "VFIO901-bad-two.toml").write_text(
        (ROOT / "rules/mmap/VFIO002-mmap-subpage-region.toml").read_text()
        .replace('id = "VFIO002"', 'id = "VFIO901"').replace('"mmap-subpage-region"', '"bad-two"')
        .replace("#vf-none-around?", "#vf-no-such-thing?"))
    with pytest.raises(Exception) as info:
        load_rules(tmp_path / "rules")
    message = str(info.value)
    assert "VFIO900-bad-one.toml: missing key 'summary'" in message
    assert "VFIO901-bad-two.toml: query: unknown predicate #vf-no-such-thing?" in message
