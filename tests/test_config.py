"""Configuration files, inline and trailer waivers, and the series summary, end to end."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_cli
from tests.test_cli import MMAP_HAZARD
from tests.test_git import commit, git

HAZARD_LINE = 6  # the line of the VFIO_REGION_INFO_FLAG_MMAP test in MMAP_HAZARD


def check(cwd: Path, *args: str) -> tuple[int, list[dict[str, object]], str]:
    """Run vfiolint in a folder; return exit code, findings, stderr."""
    proc = run_cli("check", "--format", "json", *args, cwd=cwd)
    return proc.returncode, json.loads(proc.stdout)["findings"], proc.stderr.decode()


def test_dotfile_ignores_excludes_and_ignores_per_path(tmp_path: Path) -> None:
    (tmp_path / "hw").mkdir()
    (tmp_path / "tests").mkdir()
    for name in ("hw/map.c", "tests/map.c", "hw/other.c"):
        (tmp_path / name).write_text(MMAP_HAZARD)
    (tmp_path / ".vfiolint.toml").write_text(
        'exclude = ["tests/**"]\n[per-path-ignore]\n"hw/other.c" = ["mmap-subpage-region"]\n')
    code, found, err = check(tmp_path, "hw/map.c", "tests/map.c", "hw/other.c")
    assert [(f["path"], f["rule"], f["line"]) for f in found] == [("hw/map.c", "VFIO002", 6)]
    assert (code, err) == (1, "")
    (tmp_path / ".vfiolint.toml").write_text('ignore = ["VFIO002"]\n')
    assert check(tmp_path, "hw/map.c")[:2] == (0, [])


def test_pyproject_table_and_select_override(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.vfiolint]\n'
                                             'select = ["VFIO001"]\n')
    (tmp_path / "map.c").write_text(MMAP_HAZARD)
    assert check(tmp_path, "map.c")[:2] == (0, [])
    code, found, _ = check(tmp_path, "--select", "VFIO002", "map.c")
    assert (code, [f["rule"] for f in found]) == (1, ["VFIO002"])


def test_bad_configuration_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / ".vfiolint.toml").write_text('ignroe = ["VFIO002"]\n')
    (tmp_path / "map.c").write_text(MMAP_HAZARD)
    proc = run_cli("check", "map.c", cwd=tmp_path)
    err = proc.stderr.decode()
    assert proc.returncode == 2
    assert err.strip().splitlines() == [
        f"vfiolint: {tmp_path / '.vfiolint.toml'}: unknown key 'ignroe' in [tool.vfiolint]"]


def test_inline_waiver_marks_and_does_not_fail(tmp_path: Path) -> None:
    waived = MMAP_HAZARD.replace(
        "    if (info->flags",
        "    /* vfiolint: ignore[VFIO002] the kernel only sets MMAP on whole pages here */\n"
        "    if (info->flags")
    (tmp_path / "map.c").write_text(waived)
    code, found, err = check(tmp_path, "map.c")
    assert code == 0 and err == ""
    assert [(f["rule"], f["line"], f["waived"]) for f in found] == [
        ("VFIO002", HAZARD_LINE + 1,
         {"by": "inline", "reason": "the kernel only sets MMAP on whole pages here"})]
    console = run_cli("check", "map.c", cwd=tmp_path).stdout.decode()
    assert "waived (inline): the kernel only sets MMAP on whole pages here" in console
    assert run_cli("check", "--format", "checkpatch", "map.c", cwd=tmp_path).stdout == b""


def test_waiver_without_reason_or_with_unknown_rule_warns(tmp_path: Path) -> None:
    no_reason = MMAP_HAZARD.replace(
        "    if (info->flags", "    // vfiolint: ignore[VFIO002]\n    if (info->flags")
    (tmp_path / "a.c").write_text(no_reason)
    code, found, err = check(tmp_path, "a.c")
    assert code == 1 and found[0]["waived"] is None
    assert err == f"vfiolint: a.c:{HAZARD_LINE + 1}: waiver for VFIO002 has no reason; not honoured\n"
    unknown = MMAP_HAZARD.replace(
        "    if (info->flags", "    // vfiolint: ignore[VFIO999, VFIO002] checked by caller\n"
        "    if (info->flags")
    (tmp_path / "b.c").write_text(unknown)
    code, found, err = check(tmp_path, "b.c")
    assert code == 0 and found[0]["waived"] == {"by": "inline", "reason": "checked by caller"}
    assert err == f"vfiolint: b.c:{HAZARD_LINE + 1}: waiver names unknown rule VFIO999\n"


def _series(tmp_path: Path, trailer: str = "") -> Path:
    """Make a 3-patch series mbox with git: 1/3 adds the hazard, 3/3 fixes it."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, {"hw/vfio/map.c": MMAP_HAZARD.replace(
        "info->flags & VFIO_REGION_INFO_FLAG_MMAP", "0")}, "vfio: add map_bar")
    base = git(repo, "rev-parse", "HEAD").strip()
    commit(repo, {"hw/vfio/map.c": MMAP_HAZARD}, "vfio: map mmap-able regions" + trailer)
    commit(repo, {"README": "x\n"}, "docs: readme")
    commit(repo, {"hw/vfio/map.c": MMAP_HAZARD.replace(
        "VFIO_REGION_INFO_FLAG_MMAP)", "VFIO_REGION_INFO_FLAG_MMAP &&\n"
        "        !(info->size & (getpagesize() - 1)))")}, "vfio: only map whole pages")
    mbox = tmp_path / "series.mbox"
    mbox.write_bytes(git(repo, "format-patch", "--stdout", "--subject-prefix=PATCH v2",
                         "--cover-letter", "-n", f"{base}..HEAD").encode())
    return mbox


def test_series_summary_and_per_patch_order(tmp_path: Path) -> None:
    mbox = _series(tmp_path)
    code, found, _ = check(tmp_path, str(mbox))
    assert code == 1
    assert [(f["rule"], f["status"], f["patch"]["subject"]) for f in found] == [
        ("VFIO002", "introduced", "[PATCH v2 1/3] vfio: map mmap-able regions"),
        ("VFIO002", "fixed", "[PATCH v2 3/3] vfio: only map whole pages"),
    ]
    console = run_cli("check", str(mbox), cwd=tmp_path).stdout.decode()
    assert f"Series {mbox}: VFIO002 introduced in 1/3, fixed in 3/3" in console


def test_trailer_waives_a_rule_for_its_patch(tmp_path: Path) -> None:
    mbox = _series(tmp_path, "\n\nVfiolint-Waive: VFIO002 sub-page regions are handled in 3/3")
    code, found, _ = check(tmp_path, str(mbox))
    assert code == 0
    assert [(f["status"], f["waived"]) for f in found] == [
        ("introduced", {"by": "trailer", "reason": "sub-page regions are handled in 3/3"}),
        ("fixed", None),
    ]


def _one_error(proc: object) -> str:
    """Return the single stderr line of a usage error, checking exit 2 and no report."""
    assert proc.returncode == 2, proc.stderr  # type: ignore[attr-defined]
    assert proc.stdout == b""  # type: ignore[attr-defined]
    lines = proc.stderr.decode().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1, lines
    return lines[0]


def test_unknown_rule_in_flags_is_a_usage_error_with_a_suggestion(tmp_path: Path) -> None:
    (tmp_path / "map.c").write_text(MMAP_HAZARD)
    assert _one_error(run_cli("check", "--select", "VFIO0002", "map.c", cwd=tmp_path)) == (
        "vfiolint: --select: unknown rule 'VFIO0002'; did you mean VFIO002?")
    assert _one_error(run_cli("check", "--ignore", "VFIO002,msix-table-map", "map.c",
                              cwd=tmp_path)) == (
        "vfiolint: --ignore: unknown rule 'msix-table-map'; did you mean msix-table-mmap?")
    line = _one_error(run_cli("check", "--select", "ZZZ-777", "map.c", cwd=tmp_path))
    assert line.startswith("vfiolint: --select: unknown rule 'ZZZ-777'; ")
    assert "'vfiolint rules' lists them" in line


def test_unknown_rule_in_configuration_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "map.c").write_text(MMAP_HAZARD)
    config = tmp_path / ".vfiolint.toml"
    for text, key in (('select = ["VFIO0002"]\n', "select"), ('ignore = ["VFIO0002"]\n', "ignore"),
                      ('[per-path-ignore]\n"*.c" = ["VFIO0002"]\n', "per-path-ignore")):
        config.write_text(text)
        assert _one_error(run_cli("check", "map.c", cwd=tmp_path)) == (
            f"vfiolint: {config}: {key}: unknown rule 'VFIO0002'; did you mean VFIO002?")


def test_rule_ids_match_in_any_case_and_names_too(tmp_path: Path) -> None:
    (tmp_path / "map.c").write_text(MMAP_HAZARD)
    for value in ("vfio002", "Vfio002", "MMAP-SUBPAGE-REGION"):
        code, found, err = check(tmp_path, "--select", value, "map.c")
        assert (code, [f["rule"] for f in found], err) == (1, ["VFIO002"], ""), value
    (tmp_path / ".vfiolint.toml").write_text(
        'select = ["vfio002"]\n[per-path-ignore]\n"other.c" = ["vfio002"]\n')
    (tmp_path / "other.c").write_text(MMAP_HAZARD)
    code, found, err = check(tmp_path, "map.c", "other.c")
    assert (code, [(f["path"], f["rule"]) for f in found], err) == (
        1, [("map.c", "VFIO002")], "")


def test_repeated_select_and_ignore_accumulate(tmp_path: Path) -> None:
    (tmp_path / "map.c").write_text(MMAP_HAZARD)
    code, found, _ = check(tmp_path, "--select", "VFIO001", "--select", "VFIO002", "map.c")
    assert (code, [f["rule"] for f in found]) == (1, ["VFIO002"])
    code, found, _ = check(tmp_path, "--select", "VFIO002", "--select", "VFIO001", "map.c")
    assert (code, [f["rule"] for f in found]) == (1, ["VFIO002"])
    code, found, _ = check(tmp_path, "--ignore", "VFIO001", "--ignore", "VFIO002", "map.c")
    assert (code, found) == (0, [])


def _tree(tmp_path: Path) -> Path:
    """A project whose configuration excludes drivers/ and ignores VFIO002 under hw/."""
    root = tmp_path / "project"
    for name in ("drivers/a.c", "hw/b.c", "lib/c.c"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(MMAP_HAZARD)
    (root / ".vfiolint.toml").write_text(
        'exclude = ["drivers/**"]\n[per-path-ignore]\n"hw/**" = ["VFIO002"]\n')
    return root


def test_path_patterns_match_every_way_of_naming_a_file(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    forms = {
        root: ["drivers/a.c", "./drivers/a.c", str(root / "drivers/a.c"), "hw/b.c", "./hw//b.c",
               str(root / "hw/b.c"), "drivers/../hw/b.c", "lib/c.c"],
        root / "drivers": ["a.c", "./a.c", "../hw/b.c", str(root / "hw/b.c"), "../lib/c.c"],
        root / "lib": ["c.c", "../drivers/a.c", "../hw/b.c"],
    }
    for cwd, names in forms.items():
        code, found, err = check(cwd, *names)
        reported = [f["path"] for f in found]
        expected = [n for n in names if n.endswith("c.c")]
        assert (reported, err) == (expected, ""), (cwd, names)
        assert code == (1 if expected else 0)


def test_path_patterns_of_a_subfolder_configuration_with_git(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    commit(root, {"README": "x\n"}, "start")
    base = git(root, "rev-parse", "HEAD").strip()
    commit(root, {"drivers/a.c": MMAP_HAZARD, "drivers/b.c": MMAP_HAZARD, "hw/c.c": MMAP_HAZARD},
           "add mappings")
    # The configuration of drivers/ names paths from drivers/; git names them from the top.
    (root / "drivers/.vfiolint.toml").write_text(
        'exclude = ["a.c"]\n[per-path-ignore]\n"b.*" = ["VFIO002"]\n')
    code, found, err = check(root / "drivers", "--git", f"{base}..HEAD")
    assert (code, [f["path"] for f in found], err) == (1, ["hw/c.c"], "")
    code, found, err = check(root, "--repo", "drivers", "--git", f"{base}..HEAD")
    assert (code, [f["path"] for f in found], err) == (1, ["hw/c.c"], "")
    (root / "drivers/d.c").write_text(MMAP_HAZARD)
    (root / "drivers/a.c").write_text(MMAP_HAZARD + "\n")
    git(root, "add", "-A")
    code, found, err = check(root / "drivers", "--staged")
    assert (code, [f["path"] for f in found], err) == (1, ["drivers/d.c"], "")


TWO_MAPS = MMAP_HAZARD + """
static void *map_other(int fd, struct vfio_region_info *info)
{
    if (info->size)
        return mmap(NULL, PAGE_ALIGN(info->size), PROT_READ, MAP_SHARED, fd, info->offset);
    return NULL;
}
"""


def test_trailer_waives_only_what_the_patch_changed(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, {"hw/map.c": TWO_MAPS}, "vfio: two mappings")
    # Introduce the hazard in map_other, and touch map_bar near its old hazard.
    changed = TWO_MAPS.replace("    if (info->size)\n",
                               "    if (info->flags & VFIO_REGION_INFO_FLAG_MMAP)\n")
    changed = changed.replace("    return NULL;\n}\n\nstatic void *map_other",
                              "    return MAP_FAILED;\n}\n\nstatic void *map_other")
    commit(repo, {"hw/map.c": changed},
           "vfio: map other regions\n\nVfiolint-Waive: VFIO002 other regions are page sized")
    code, found, _ = check(repo, "--git", "HEAD", "--repo", str(repo))
    assert [(f["status"], f["function"], f["waived"]) for f in found] == [
        ("present", "map_bar", None),
        ("introduced", "map_other", {"by": "trailer", "reason": "other regions are page sized"}),
    ]
    assert code == 0
    # A patch that rewrites the hazard's own line (the hazard stays) may waive it.
    again = changed.replace("(info->flags & VFIO_REGION_INFO_FLAG_MMAP) return",
                            "((info->flags & VFIO_REGION_INFO_FLAG_MMAP)) return")
    commit(repo, {"hw/map.c": again},
           "vfio: parenthesise\n\nVfiolint-Waive: VFIO002 all regions are page sized")
    code, found, _ = check(repo, "--git", "HEAD", "--repo", str(repo))
    assert [(f["status"], f["function"], f["waived"] is not None) for f in found] == [
        ("present", "map_bar", True)]


def test_the_summary_counts_inputs_patches_files_and_commits_apart(tmp_path: Path) -> None:
    mbox = _series(tmp_path)  # a cover letter and 3 patches in one mbox
    (tmp_path / "map.c").write_text(MMAP_HAZARD)
    out = run_cli("check", str(mbox), "map.c", cwd=tmp_path).stdout.decode()
    assert out.splitlines()[-1] == (
        "2 inputs (3 patches, 1 source file): 1 introduced, 1 fixed, 1 present")
    doc = json.loads(run_cli("check", "--format", "json", str(mbox), cwd=tmp_path).stdout)
    assert doc["counts"] == {"inputs": 1, "patches": 3, "source_files": 0, "commits": 0,
                             "staged": 0}
    repo = tmp_path / "repo"
    out = run_cli("check", "--git", "HEAD~3..HEAD", cwd=repo).stdout.decode()
    assert out.splitlines()[-1] == "3 commits: 1 introduced, 1 fixed, 0 present"
    (repo / "hw/vfio/map.c").write_text(MMAP_HAZARD + "\n")
    git(repo, "add", "-A")
    out = run_cli("check", "--staged", cwd=repo).stdout.decode()
    assert out.splitlines()[-1] == "the staged change: 1 introduced, 0 fixed, 0 present"


LOG_CAST = """\
#include <stdint.h>
#include <linux/vfio.h>

static void show_region(struct vfio_region_info *info)
{
    my_dbg("region at 0x%x\\n", (uint32_t)info->offset);
}
"""


def test_log_functions_extend_what_only_prints(tmp_path: Path) -> None:
    """A narrowing cast passed to an unknown function may reach I/O (one step less sure); to a
    function the project declares as logging, it reaches nothing."""
    (tmp_path / "show.c").write_text(LOG_CAST)
    code, found, err = check(tmp_path, "show.c")
    assert (code, err) == (1, "")
    assert [(f["rule"], f["line"], f["confidence"]) for f in found] == [("VFIO003", 6, "low")]
    (tmp_path / ".vfiolint.toml").write_text('log-functions = ["my_dbg"]\n')
    assert check(tmp_path, "show.c")[:2] == (0, [])
