"""--lines head: a range's findings on the lines of the range's head, as PR annotations need."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.test_cli import MMAP_HAZARD
from tests.test_git import commit, git
from vfiolint.inputs.lines import Hunk, map_span

HAZARD_LINE = 6
SAFE_MAP = MMAP_HAZARD.replace("info->flags & VFIO_REGION_INFO_FLAG_MMAP", "0")
PADDING = "".join(f"static int pad_{i}(void) {{ return {i}; }}\n" for i in range(10))


def test_map_span_through_zero_context_hunks() -> None:
    hunks = [Hunk(2, 0, 3, 2),    # two lines inserted after line 2
             Hunk(5, 1, 7, 1),    # line 5 rewritten
             Hunk(9, 2, 10, 0)]   # lines 9-10 deleted
    assert map_span(hunks, 1, 1) == (1, 1)
    assert map_span(hunks, 2, 2) == (2, 2)
    assert map_span(hunks, 3, 4) == (5, 6)
    assert map_span(hunks, 5, 5) is None
    assert map_span(hunks, 4, 5) is None
    assert map_span(hunks, 6, 8) == (8, 10)
    assert map_span(hunks, 9, 9) is None
    assert map_span(hunks, 11, 12) == (11, 12)
    assert map_span([Hunk(0, 0, 1, 3)], 1, 1) == (4, 4)
    assert map_span([], 7, 9) == (7, 9)


@pytest.fixture
def history(tmp_path: Path) -> tuple[Path, str, str]:
    """base; a commit that introduces VFIO002 at line 6; one that adds 10 lines above it."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    base = commit(repo, {"hw/vfio/map.c": SAFE_MAP}, "vfio: add map_bar")
    introducing = commit(repo, {"hw/vfio/map.c": MMAP_HAZARD}, "vfio: map mmap-able regions")
    commit(repo, {"hw/vfio/map.c": PADDING + MMAP_HAZARD}, "vfio: add padding helpers")
    return repo, base, introducing


def run(repo: Path, *args: str) -> tuple[int, str]:
    """Run vfiolint in the repository; return exit code and standard output."""
    proc = run_cli("check", *args, cwd=repo)
    assert b"Traceback" not in proc.stderr
    return proc.returncode, proc.stdout.decode()


def test_github_and_sarif_annotate_the_head_s_line(history: tuple[Path, str, str]) -> None:
    repo, base, introducing = history
    head_line = HAZARD_LINE + PADDING.count("\n")
    code, out = run(repo, "--git", f"{base}..HEAD", "--format", "github")
    assert code == 1
    assert out.startswith(f"::error file=hw/vfio/map.c,line={head_line},endLine={head_line},")
    code, out = run(repo, "--git", f"{base}..HEAD", "--format", "github", "--lines", "commit")
    assert out.startswith(f"::error file=hw/vfio/map.c,line={HAZARD_LINE},")
    sarif = json.loads(run(repo, "--git", f"{base}..HEAD", "--format", "sarif")[1])
    result = sarif["runs"][0]["results"][0]
    region = result["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["endLine"]) == (head_line, head_line)
    assert result["properties"]["patch"]["commit"] == introducing
    doc = json.loads(run(repo, "--git", f"{base}..HEAD", "--format", "json")[1])
    assert [(f["line"], f["patch"]["commit"], f["head"]) for f in doc["findings"]] == [
        (HAZARD_LINE, introducing, None)]
    doc = json.loads(run(repo, "--git", f"{base}..HEAD", "--format", "json",
                         "--lines", "head")[1])
    head = git(repo, "rev-parse", "HEAD").strip()
    assert [(f["line"], f["head"]) for f in doc["findings"]] == [
        (HAZARD_LINE, {"commit": head, "path": "hw/vfio/map.c", "line": head_line,
                       "end_line": head_line})]


def test_code_gone_at_head_leaves_the_annotations_and_stays_in_json(
        history: tuple[Path, str, str]) -> None:
    repo, base, introducing = history
    commit(repo, {"hw/vfio/map.c": PADDING + SAFE_MAP}, "vfio: disable mapping")
    code, out = run(repo, "--git", f"{base}..HEAD", "--format", "github")
    assert (code, out) == (1, "")  # introduced in the range, but no longer at its head
    sarif = json.loads(run(repo, "--git", f"{base}..HEAD", "--format", "sarif")[1])
    lines = [r["locations"][0]["physicalLocation"]["region"]["startLine"]
             for r in sarif["runs"][0]["results"]]
    assert HAZARD_LINE not in lines
    doc = json.loads(run(repo, "--git", f"{base}..HEAD", "--format", "json",
                         "--lines", "head")[1])
    first = doc["findings"][0]
    assert (first["status"], first["line"], first["patch"]["commit"]) == (
        "introduced", HAZARD_LINE, introducing)
    assert first["head"]["path"] is None and first["head"]["line"] is None


def test_a_renamed_file_is_annotated_under_its_new_name(
        history: tuple[Path, str, str]) -> None:
    repo, base, _ = history
    git(repo, "mv", "hw/vfio/map.c", "hw/vfio/region.c")
    git(repo, "commit", "-q", "-m", "vfio: rename map.c")
    _, out = run(repo, "--git", f"{base}..HEAD", "--format", "github")
    head_line = HAZARD_LINE + PADDING.count("\n")
    assert out.startswith(f"::error file=hw/vfio/region.c,line={head_line},"), out


def test_console_names_each_commit_and_the_summary_names_commits(
        history: tuple[Path, str, str]) -> None:
    repo, base, introducing = history
    fixing = commit(repo, {"hw/vfio/map.c": PADDING + SAFE_MAP}, "vfio: stop mapping")
    _, out = run(repo, "--git", f"{base}..HEAD")
    assert f"{base}..HEAD: {introducing[:12]} vfio: map mmap-able regions" in out
    assert f"{base}..HEAD: {fixing[:12]} vfio: stop mapping" in out
    assert (f"Series {base}..HEAD: VFIO002 introduced in {introducing[:12]}, "
            f"fixed in {fixing[:12]}") in out
    email = run(repo, "--git", f"{base}..HEAD", "--format", "email")[1]
    assert f"X-Vfiolint-Commit: {introducing}" in email
