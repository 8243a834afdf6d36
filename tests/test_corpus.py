"""Every corpus document gives exactly the findings its sidecar expects (rule, status, path, line).

A sidecar's ``[[todo]]`` entries are known misses: they must stay missing, so that a rule that
starts catching them forces the sidecar to be updated.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.conftest import ROOT, findings_of
from vfiolint.rules.loader import Rule

CORPUS = ROOT / "corpus"
SIDECARS = sorted(CORPUS.rglob("*.toml"))


def document_of(sidecar: Path) -> Path:
    """Return the corpus document a sidecar describes."""
    found = [p for p in sidecar.parent.glob(sidecar.stem + ".*") if p.suffix != ".toml"]
    assert len(found) == 1, f"{sidecar}: expected one document beside it, found {found}"
    return found[0]


def test_every_document_has_a_sidecar() -> None:
    # Markdown (corpus/HISTORY.md, the fix history behind the families) describes the corpus.
    documents = [p for p in CORPUS.rglob("*") if p.is_file() and p.suffix not in {".toml", ".md"}]
    assert documents
    missing = [p for p in documents if not p.with_suffix(".toml").is_file()]
    assert missing == []


@pytest.mark.parametrize("sidecar", SIDECARS, ids=lambda p: str(p.relative_to(CORPUS)))
def test_corpus_document(sidecar: Path, rules: list[Rule]) -> None:
    meta = tomllib.loads(sidecar.read_text(encoding="utf-8"))
    assert meta.get("source", {}).get("origin"), f"{sidecar}: [source] origin is required"
    document = document_of(sidecar)
    findings, errors = findings_of(str(document.relative_to(ROOT)), document.read_bytes(), rules)
    assert errors == meta.get("errors", [])
    got = sorted((f.rule, f.status.value, f.path, f.line) for f in findings)
    want = sorted((e["rule"], e["status"], e["path"], e["line"]) for e in meta.get("expect", []))
    assert got == want
    todo = {(t["rule"], t["status"], t["path"], t["line"]) for t in meta.get("todo", [])}
    assert not todo & set(got), "a [[todo]] now passes: move it to [[expect]]"
