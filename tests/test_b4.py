"""b4 runs vfiolint per patch, configured as the README says, with the real b4 from PyPI.

b4 works offline here: ``b4 prep --check`` reads the local branch, and ``b4 --offline-mode am
-m MBOX`` reads a local mbox instead of fetching the thread.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_cli import MMAP_HAZARD
from tests.test_git import commit, git

SEARCH = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
B4 = shutil.which("b4", path=SEARCH)
pytestmark = pytest.mark.skipif(B4 is None, reason="needs b4 (pip install b4)")
SAFE_MAP = MMAP_HAZARD.replace("info->flags & VFIO_REGION_INFO_FLAG_MMAP", "0")
ERROR = ("vfiolint: hw/vfio/map.c:6: ERROR:VFIO002: region mapped on VFIO_REGION_INFO_FLAG_MMAP "
         "with a length rounded up to the page size")


def readme_block(marker: str) -> str:
    """Return the README's fenced block whose first line holds ``marker``."""
    blocks = re.findall(r"```\w*\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    return next(b for b in blocks if marker in b.splitlines()[0])


def b4(repo: Path, tmp_path: Path, *args: str) -> str:
    """Run b4 in a repository with vfiolint on PATH and caches of its own; return all output."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"),
           "XDG_DATA_HOME": str(tmp_path / "data"),
           "PATH": SEARCH,
           "GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "T", "GIT_COMMITTER_EMAIL": "t@example.org"}
    proc = subprocess.run([str(B4), *args], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    return re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "T")
    git(path, "config", "user.email", "t@example.org")
    commit(path, {"hw/vfio/map.c": SAFE_MAP}, "vfio: add map_bar")
    return path


def test_prep_check_runs_vfiolint_from_b4_config(repo: Path, tmp_path: Path) -> None:
    (repo / ".b4-config").write_text(readme_block(".b4-config"))
    b4(repo, tmp_path, "prep", "-n", "mapping")
    commit(repo, {"hw/vfio/map.c": MMAP_HAZARD}, "vfio: map mmap-able regions")
    out = b4(repo, tmp_path, "prep", "--check")
    assert "vfiolint check --repo . --format checkpatch -" in out
    assert ERROR in out


def test_prep_check_reads_each_patch_with_its_whole_file(repo: Path, tmp_path: Path) -> None:
    # the guard the patch removes is more than three lines above the mapping: the hunk alone
    # shows neither the mapping nor what it exposes
    guard = ("    if (info->size & (PAGE_SIZE - 1)) {\n        return NULL;\n    }\n"
             "    trace_map_bar(fd, info->index);\n    fd_in_use(fd);\n    count_maps();\n"
             "    note_region(info->index);\n")
    guarded = MMAP_HAZARD.replace("{\n    if (info->flags", "{\n" + guard + "    if (info->flags")
    assert guarded != MMAP_HAZARD
    commit(repo, {"hw/vfio/map.c": guarded}, "vfio: map sub-page-safe regions")
    (repo / ".b4-config").write_text(readme_block(".b4-config"))
    b4(repo, tmp_path, "prep", "-n", "unguarded")
    commit(repo, {"hw/vfio/map.c": guarded.replace(guard.split("    trace")[0], "")},
           "vfio: map every mmap-able region")
    out = b4(repo, tmp_path, "prep", "--check")
    assert "ERROR:VFIO002: region mapped on VFIO_REGION_INFO_FLAG_MMAP" in out


def test_am_check_runs_vfiolint_from_git_config_only(repo: Path, tmp_path: Path) -> None:
    commit(repo, {"hw/vfio/map.c": MMAP_HAZARD}, "vfio: map mmap-able regions")
    out_dir = tmp_path / "series"
    git(repo, "format-patch", "-q", "--thread", "-o", str(out_dir), "HEAD~1")
    patch = next(out_dir.iterdir())
    msgid = re.search(r"(?im)^Message-ID: <([^>]+)>", patch.read_text())
    assert msgid is not None
    args = ["--offline-mode", "am", "--check", "-m", str(patch), "-o", str(tmp_path / "am"),
            msgid.group(1)]
    # b4 takes only prep-* check commands from .b4-config: an am one there is not run.
    (repo / ".b4-config").write_text(
        "[b4]\n    am-perpatch-check-cmd = vfiolint check --format checkpatch -\n")
    assert "vfiolint:" not in b4(repo, tmp_path, *args)
    (repo / ".b4-config").unlink()
    command = readme_block("git config b4.am-perpatch-check-cmd").splitlines()[0]
    subprocess.run(command, shell=True, cwd=repo, check=True)
    assert ERROR in b4(repo, tmp_path, *args)
