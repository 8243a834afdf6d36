"""The hook as users install it, run by the real pre-commit framework in a temp repository."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_git import HEADER, NARROW_HEADER, PADDING, SAFE, commit, git

pytestmark = pytest.mark.skipif(shutil.which("pre-commit") is None, reason="needs pre-commit")


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Snapshot this working tree (committed or not) into a repository pre-commit can clone."""
    snap = tmp_path_factory.mktemp("vfiolint-hook")
    names = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard"],
                           check=True, capture_output=True, text=True).stdout.split()
    for name in names:
        if (ROOT / name).is_file():
            (snap / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, snap / name)
    git(snap, "init", "-q", "-b", "main")
    git(snap, "add", "-A")
    git(snap, "commit", "-q", "-m", "snapshot")
    return snap, git(snap, "rev-parse", "HEAD").strip()


@pytest.fixture
def project(tmp_path: Path, hook_repo: tuple[Path, str]) -> tuple[Path, dict[str, str]]:
    """A project that adds vfiolint with three lines of .pre-commit-config.yaml."""
    repo_path, rev = hook_repo
    project = tmp_path / "project"
    project.mkdir()
    git(project, "init", "-q", "-b", "main")
    (project / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {repo_path}\n  rev: {rev}\n  hooks: [{{id: vfiolint}}]\n")
    commit(project, {"drivers/pci_vfio.c": HEADER + PADDING + SAFE}, "initial")
    env = {**os.environ, "PRE_COMMIT_HOME": str(repo_path.parent / "pre-commit-home")}
    subprocess.run(["pre-commit", "install", "-t", "pre-commit", "-t", "pre-push"],
                   cwd=project, env=env, check=True, capture_output=True)
    return project, env


def try_commit(project: Path, env: dict[str, str], text: str) -> subprocess.CompletedProcess[str]:
    """Stage a new version of the driver and try to commit it through the installed hook."""
    (project / "drivers/pci_vfio.c").write_text(text)
    subprocess.run(["git", "add", "-A"], cwd=project, check=True)
    return subprocess.run(
        ["git", "-c", "user.name=T", "-c", "user.email=t@example.org", "commit", "-m", "change"],
        cwd=project, env=env, capture_output=True, text=True, timeout=900, check=False)


def test_commit_adding_a_hazard_is_refused(project: tuple[Path, dict[str, str]]) -> None:
    path, env = project
    proc = try_commit(path, env, NARROW_HEADER + PADDING + SAFE)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    line = (NARROW_HEADER + PADDING).count("\n") + 3
    assert f"drivers/pci_vfio.c:{line}: VFIO003 introduced" in proc.stdout + proc.stderr
    assert git(path, "rev-list", "--count", "HEAD").strip() == "1"


def test_clean_commit_passes(project: tuple[Path, dict[str, str]]) -> None:
    path, env = project
    proc = try_commit(path, env, HEADER + PADDING + SAFE.replace("return 0;", "return 1;"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert git(path, "rev-list", "--count", "HEAD").strip() == "2"


def test_pre_push_checks_the_pushed_range(project: tuple[Path, dict[str, str]],
                                          tmp_path: Path) -> None:
    path, env = project
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(path, "remote", "add", "origin", str(remote))
    git(path, "push", "-q", "--no-verify", "origin", "main")
    git(path, "-c", "core.hooksPath=/dev/null", "commit", "-q", "-am", "noop", "--allow-empty")
    (path / "drivers/pci_vfio.c").write_text(NARROW_HEADER + PADDING + SAFE)
    git(path, "add", "-A")
    git(path, "commit", "-q", "--no-verify", "-m", "narrow")
    proc = subprocess.run(["git", "push", "origin", "main"], cwd=path, env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "VFIO003 introduced" in proc.stdout + proc.stderr


def test_refusal_ends_with_how_to_waive_and_where_the_rule_is_explained(
        project: tuple[Path, dict[str, str]]) -> None:
    path, env = project
    proc = try_commit(path, env, NARROW_HEADER + PADDING + SAFE)
    assert proc.returncode != 0
    lines = [x for x in (proc.stdout + proc.stderr).splitlines() if x.strip()]
    assert lines[-2:] == [
        "vfiolint: to accept a finding knowingly, write "
        "'/* vfiolint: ignore[VFIO003] <reason> */' on or above its line, or a "
        "'Vfiolint-Waive: VFIO003 <reason>' trailer in the commit message "
        "(the vfiolint-commit-msg hook reads it at commit time)",
        "vfiolint: why it is a hazard and what to write instead: vfiolint explain VFIO003",
    ]


def test_all_files_checks_every_file_and_blocks_on_a_present_hazard(
        project: tuple[Path, dict[str, str]]) -> None:
    path, env = project
    (path / "drivers/pci_vfio.c").write_text(NARROW_HEADER + PADDING + SAFE)
    git(path, "add", "-A")
    git(path, "commit", "-q", "--no-verify", "-m", "narrow, unchecked")
    proc = subprocess.run(["pre-commit", "run", "--all-files"], cwd=path, env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    line = (NARROW_HEADER + PADDING).count("\n") + 3
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert f"drivers/pci_vfio.c:{line}: VFIO003 present" in proc.stdout
    # a file checked as it is has no commit message: only the comment can waive its finding
    hint = next(x for x in proc.stdout.splitlines() if "to accept a finding knowingly" in x)
    assert hint.endswith("write '/* vfiolint: ignore[VFIO003] <reason> */' on or above its line")
    (path / "drivers/pci_vfio.c").write_text((NARROW_HEADER + PADDING + SAFE).replace(
        "    map->offset = info->offset;",
        "    /* vfiolint: ignore[VFIO003] this device's regions sit below 4 GiB */\n"
        "    map->offset = info->offset;"))
    proc = subprocess.run(["pre-commit", "run", "--all-files"], cwd=path, env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_commit_msg_hook_honours_a_waiver_trailer(tmp_path: Path,
                                                  hook_repo: tuple[Path, str]) -> None:
    repo_path, rev = hook_repo
    project = tmp_path / "msg-project"
    project.mkdir()
    git(project, "init", "-q", "-b", "main")
    (project / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {repo_path}\n  rev: {rev}\n"
        "  hooks: [{id: vfiolint-commit-msg}, {id: vfiolint, stages: [pre-push]}]\n")
    commit(project, {"drivers/pci_vfio.c": HEADER + PADDING + SAFE}, "initial")
    env = {**os.environ, "PRE_COMMIT_HOME": str(repo_path.parent / "pre-commit-home")}
    subprocess.run(["pre-commit", "install", "-t", "commit-msg", "-t", "pre-push"],
                   cwd=project, env=env, check=True, capture_output=True)
    (project / "drivers/pci_vfio.c").write_text(NARROW_HEADER + PADDING + SAFE)
    git(project, "add", "-A")

    def attempt(message: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", "-c", "user.name=T", "-c", "user.email=t@example.org", "commit", "-m",
             message], cwd=project, env=env, capture_output=True, text=True, timeout=900,
            check=False)

    refused = attempt("pci: narrow bar_map")
    assert refused.returncode != 0, refused.stdout + refused.stderr
    assert "VFIO003 introduced" in refused.stdout + refused.stderr
    accepted = attempt("pci: narrow bar_map\n\n"
                       "Vfiolint-Waive: VFIO003 regions of this device sit below 4 GiB")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert git(project, "rev-list", "--count", "HEAD").strip() == "2"


def test_pushing_a_first_commit_is_checked(tmp_path: Path,
                                           hook_repo: tuple[Path, str]) -> None:
    repo_path, rev = hook_repo
    project = tmp_path / "new-project"
    project.mkdir()
    git(project, "init", "-q", "-b", "main")
    (project / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {repo_path}\n  rev: {rev}\n  hooks: [{{id: vfiolint}}]\n")
    commit(project, {"drivers/pci_vfio.c": NARROW_HEADER + PADDING + SAFE}, "first")
    env = {**os.environ, "PRE_COMMIT_HOME": str(repo_path.parent / "pre-commit-home")}
    subprocess.run(["pre-commit", "install", "-t", "pre-push"], cwd=project, env=env,
                   check=True, capture_output=True)
    remote = tmp_path / "new-remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(project, "remote", "add", "origin", str(remote))
    proc = subprocess.run(["git", "push", "origin", "main"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "VFIO003 introduced" in proc.stdout + proc.stderr
    # the heading names the branch, not the rev-list expression behind it
    assert "refs/heads/main (first push: from its root): " in proc.stdout + proc.stderr
    assert "^@" not in proc.stdout + proc.stderr
