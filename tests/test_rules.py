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
PATH_RE = re.compile(r"^\s*//\s*path:\s*(\S+)\s*$")
CONTRACT_IDS = {
    "VFIO001": "dma-map-file-private",
    "VFIO002": "mmap-subpage-region",
    "VFIO003": "region-offset-truncated",
    "VFIO004": "dmabuf-unmappable-bar",
    "VFIO005": "msix-table-mmap",
    "VFIO006": "irq-set-range-overflow",
    "VFIO007": "argsz-unchecked",
    "VFIO008": "untrusted-size-alloc",
    "VFIO009": "region-access-wrap",
    "VFIO010": "byte-offset-typed-pointer",
    "VFIO011": "irq-set-buffer-overflow",
    "VFIO012": "fd-zero-sentinel",
    "VFIO013": "config-short-read",
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


def sections(text: str, default: str) -> list[tuple[str, str]]:
    """Split an annotated test at its ``// path: P`` lines: each section is checked as the
    file P (rules may depend on the path), with the other sections' lines left blank so
    that every line keeps its number."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if PATH_RE.match(line)] or [0]
    starts[0] = 0
    out = []
    for k, start in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(lines)
        m = next((PATH_RE.match(x) for x in lines[start:end] if PATH_RE.match(x)), None)
        kept = ["" if not start <= i < end else line for i, line in enumerate(lines)]
        out.append((m.group(1) if m else default, "\n".join(kept) + "\n"))
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
    fired = set()
    for path, section in sections(text, str(test_file.relative_to(ROOT))):
        fired |= {f.line for f in check_source(file_unit(path, section.encode()), [rule],
                                               path)[0]}
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
    base = (ROOT / "rules/dmabuf/VFIO004-dmabuf-unmappable-bar.toml").read_text()
    (area / "VFIO901-bad-two.toml").write_text(
        base.replace('id = "VFIO004"', 'id = "VFIO901"')
        .replace('"dmabuf-unmappable-bar"', '"bad-two"')
        .replace("#vf-function-never-reads?", "#vf-no-such-thing?"))
    # A predicate given the wrong number or kind of arguments fails the load, not the run.
    (area / "VFIO902-bad-three.toml").write_text(
        base.replace('id = "VFIO004"', 'id = "VFIO902"')
        .replace('"dmabuf-unmappable-bar"', '"bad-three"')
        .replace('(#vf-in-function-named? @finding "^(pcim_p2pdma_provider|',
                 '(#vf-in-function-named? @finding) (#eq? @finding "^(pcim_p2pdma_provider|'))
    (area / "VFIO903-bad-four.toml").write_text(
        base.replace('id = "VFIO004"', 'id = "VFIO903"')
        .replace('"dmabuf-unmappable-bar"', '"bad-four"')
        .replace('report = "sink"', 'report = "everywhere"'))
    with pytest.raises(Exception) as info:
        load_rules(tmp_path / "rules")
    message = str(info.value)
    assert "VFIO900-bad-one.toml: missing key 'summary'" in message
    assert "VFIO901-bad-two.toml: query: unknown predicate #vf-no-such-thing?" in message
    assert ("VFIO902-bad-three.toml: query: #vf-in-function-named? takes (capture, string), "
            "given (capture)") in message
    assert ("VFIO903-bad-four.toml: flow: report 'everywhere' is not one of source, sink, "
            "gate, narrowing") in message


def test_rule_modules_register_their_own_predicates(rules: list[Rule]) -> None:
    """A rule's Python sits beside its TOML, not in the generic predicates module."""
    from vfiolint.rules import predicates

    generic = set(vars(predicates))
    local = {p.stem for p in (ROOT / "rules").rglob("*.py")}
    assert "VFIO003-region-offset-truncated" in local
    assert "region_info" not in generic and "msix_guard_switched" not in generic


def test_experimental_rules_run_only_when_selected(tmp_path: Path) -> None:
    from tests.conftest import run_cli
    from vfiolint.rules.loader import select_rules

    area = tmp_path / "rules" / "x"
    area.mkdir(parents=True)
    base = (ROOT / "rules/dmabuf/VFIO004-dmabuf-unmappable-bar.toml").read_text()
    (area / "VFIO004-dmabuf-unmappable-bar.toml").write_text(base)
    own = (ROOT / "rules/dmabuf/VFIO004-dmabuf-unmappable-bar.py").read_text()
    (area / "VFIO004-dmabuf-unmappable-bar.py").write_text(own)
    (area / "VFIO904-trial-rule.py").write_text(own)
    (area / "VFIO904-trial-rule.toml").write_text(
        base.replace('id = "VFIO004"', 'id = "VFIO904"').replace(
            '"dmabuf-unmappable-bar"', '"trial-rule"').replace(
            'status = "stable"', 'status = "experimental"'))
    rules = load_rules(tmp_path / "rules")
    assert [r.id for r in select_rules(rules, None, frozenset())] == ["VFIO004"]
    assert [r.id for r in select_rules(rules, frozenset({"VFIO904"}), frozenset())] == [
        "VFIO904"]
    plain = run_cli("rules", "--rules", str(tmp_path / "rules")).stdout.decode()
    every = run_cli("rules", "--all", "--rules", str(tmp_path / "rules")).stdout.decode()
    assert "VFIO904" not in plain and "VFIO004" in plain
    assert [line.split()[:3] for line in every.splitlines()] == [
        ["VFIO004", "dmabuf-unmappable-bar", "stable"],
        ["VFIO904", "trial-rule", "experimental"]]
