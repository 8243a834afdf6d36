"""The speed machinery changes no output: the keyword pre-filter, the content cache, --jobs."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_cli
from tests.test_git import HEADER, NARROW_HEADER, PADDING, SAFE, commit, git


def test_prefilter_changes_no_finding_on_the_corpus() -> None:
    fast = run_cli("check", "--format", "json", "--jobs", "1", "corpus")
    slow = run_cli("check", "--format", "json", "--jobs", "1", "--no-prefilter", "corpus")
    assert fast.returncode == slow.returncode == 1
    assert b'"findings": [\n    {' in fast.stdout  # there is something to compare
    strip = [b"images_parsed", b'"parsed"']  # what the pre-filter saves is reported, not found
    keep = [line for line in fast.stdout.splitlines() if not any(s in line for s in strip)]
    keep_slow = [line for line in slow.stdout.splitlines() if not any(s in line for s in strip)]
    assert keep == keep_slow


def test_jobs_give_byte_identical_output_on_the_corpus() -> None:
    for fmt in ("json", "sarif", "console"):
        one = run_cli("check", "--format", fmt, "--jobs", "1", "corpus")
        two = run_cli("check", "--format", fmt, "--jobs", "2", "corpus")
        assert one.returncode == two.returncode == 1
        assert one.stdout == two.stdout, fmt
        assert one.stderr == two.stderr == b""


def test_jobs_give_byte_identical_output_on_a_range(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, {"drivers/pci_vfio.c": HEADER + PADDING + SAFE}, "start")
    base = git(repo, "rev-parse", "HEAD").strip()
    for i in range(40):  # enough commits for the pool to be used
        text = (NARROW_HEADER if i % 2 == 0 else HEADER) + PADDING + SAFE.replace(
            "return 0;", f"return {i};")
        commit(repo, {"drivers/pci_vfio.c": text, f"docs/{i}.txt": "x\n"}, f"change {i}")
    one = run_cli("check", "--format", "json", "--jobs", "1", "--repo", str(repo),
                  "--git", f"{base}..HEAD")
    two = run_cli("check", "--format", "json", "--jobs", "2", "--repo", str(repo),
                  "--git", f"{base}..HEAD")
    assert one.returncode == two.returncode == 1
    assert one.stdout == two.stdout
    assert one.stdout.count(b'"status": "introduced"') == 20
    assert one.stdout.count(b'"status": "fixed"') == 20


def test_the_content_cache_changes_no_finding(rules: list) -> None:  # type: ignore[type-arg]
    from tests.conftest import ROOT, findings_of
    from vfiolint.rules import engine, keywords

    documents = sorted(p for p in (ROOT / "corpus").rglob("*") if p.suffix in {".patch", ".txt"})
    engine._cached_match.cache_clear()
    keywords._presence_memo.cache_clear()
    cold = [findings_of(str(p), p.read_bytes(), rules) for p in documents]
    warm = [findings_of(str(p), p.read_bytes(), rules) for p in documents]  # every image cached
    assert engine._cached_match.cache_info().hits > 0
    assert cold == warm
    assert any(found for found, _ in cold)
