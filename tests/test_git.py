"""``--git RANGE`` and ``--staged`` against real repositories built in tmp_path."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_cli

HEADER = """\
#include <stdint.h>
#include <sys/mman.h>
#include <linux/vfio.h>

struct bar_map {
    uint64_t offset;
    uint64_t size;
};

"""
SAFE = """\
static int map_region(int fd, struct vfio_region_info *info, struct bar_map *map)
{
    map->offset = info->offset;
    map->size = info->size;
    return 0;
}
"""
# The declaration of struct bar_map is far above the store: only whole files show it.
NARROW_HEADER = HEADER.replace("uint64_t offset;", "uint32_t offset;")
PADDING = "".join(f"static int unrelated_{i}(void) {{ return {i}; }}\n" for i in range(30))


def git(repo: Path, *args: str) -> str:
    """Run git in the test repository (as T, whatever GIT_AUTHOR_* the caller exports)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_AUTHOR_", "GIT_COMMITTER_"))}
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=T", "-c", "user.email=t@example.org",
         "-c", "commit.gpgsign=false", *args],
        check=True, capture_output=True, text=True, env=env,
    ).stdout


def commit(repo: Path, files: dict[str, str], message: str) -> str:
    """Write files, commit them, return the commit id."""
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        git(repo, "add", name)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo with space-é"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    commit(path, {"drivers/pci_vfio.c": HEADER + PADDING + SAFE}, "pci: add region mapping")
    return path


def check(repo: Path, *args: str) -> tuple[int, list[tuple[str, str, str, int, str]], dict]:
    """Run vfiolint on the repository; return exit code, (rule, status, path, line, subject)."""
    proc = run_cli("check", "--format", "json", "--repo", str(repo), *args)
    doc = json.loads(proc.stdout)
    found = [(f["rule"], f["status"], f["path"], f["line"], f["patch"]["subject"])
             for f in doc["findings"]]
    return proc.returncode, found, doc


def test_range_blames_the_commit_that_narrows_a_far_declaration(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD").strip()
    commit(repo, {"drivers/pci_vfio.c": NARROW_HEADER + PADDING + SAFE},
           "pci: shrink bar_map")
    commit(repo, {"drivers/pci_vfio.c": HEADER + PADDING + SAFE}, "pci: widen bar_map again")
    code, found, doc = check(repo, "--git", f"{base}..HEAD")
    line = (HEADER + PADDING).count("\n") + 3
    assert found == [
        ("VFIO003", "introduced", "drivers/pci_vfio.c", line, "pci: shrink bar_map"),
        ("VFIO003", "fixed", "drivers/pci_vfio.c", line, "pci: widen bar_map again"),
    ]
    assert code == 1
    assert [f["patch"]["commit"] for f in doc["findings"]] == git(
        repo, "rev-list", "--reverse", f"{base}..HEAD").split()


def test_moving_hazardous_code_is_present_not_introduced(repo: Path) -> None:
    commit(repo, {"drivers/pci_vfio.c": NARROW_HEADER + PADDING + SAFE}, "pci: shrink bar_map")
    moved = SAFE.replace("    map->offset = info->offset;\n    map->size = info->size;\n",
                         "    map->size = info->size;\n    map->offset = info->offset;\n")
    commit(repo, {"drivers/pci_vfio.c": NARROW_HEADER + PADDING + moved}, "pci: reorder stores")
    code, found, _ = check(repo, "--git", "HEAD")
    line = (NARROW_HEADER + PADDING).count("\n") + 4
    assert found == [("VFIO003", "present", "drivers/pci_vfio.c", line, "pci: reorder stores")]
    assert code == 0


IOPORT = """\
#include <unistd.h>

struct intr { int vfio_dev_fd; };

static int ioport_read(struct intr *intr, void *data, size_t len, off_t offset)
{
	if (pread64(intr->vfio_dev_fd, data, len, offset) <= 0)
		return -1;
	return 0;
}
"""


def test_a_rewritten_hazardous_line_is_present_not_fixed_and_introduced(repo: Path) -> None:
    # DPDK d61138d4f0e2: the descriptor is now read through a local; the count is still
    # tested only for an error
    commit(repo, {"drivers/ioport.c": IOPORT}, "pci: add ioport read")
    rewritten = IOPORT.replace(
        "{\n\tif (pread64(intr->vfio_dev_fd,",
        "{\n\tint vfio_dev_fd = intr->vfio_dev_fd;\n\n\tif (pread64(vfio_dev_fd,")
    assert rewritten != IOPORT
    commit(repo, {"drivers/ioport.c": rewritten}, "pci: read the fd once")
    assert check(repo, "--git", "HEAD")[:2] == (0, [
        ("VFIO013", "present", "drivers/ioport.c", 9, "pci: read the fd once")])


def test_lines_added_beside_a_function_leave_its_hazard_unmentioned(repo: Path) -> None:
    commit(repo, {"drivers/pci_vfio.c": NARROW_HEADER + PADDING + SAFE}, "pci: shrink bar_map")
    comment = "/*\n * Map a region: offset and size come from VFIO_DEVICE_GET_REGION_INFO.\n */\n"
    commit(repo, {"drivers/pci_vfio.c": NARROW_HEADER + PADDING + comment + SAFE},
           "pci: document map_region")
    after = "\nstatic int unmap_region(struct bar_map *map)\n{\n    map->size = 0;\n    return 0;\n}\n"
    commit(repo, {"drivers/pci_vfio.c": NARROW_HEADER + PADDING + comment + SAFE + after},
           "pci: add unmap_region")
    # the hunks' context lines show map_region, but neither commit changes it
    assert check(repo, "--git", "HEAD~2..HEAD")[:2] == (0, [])
    inside = SAFE.replace("    return 0;\n", "    /* done */\n    return 0;\n")
    commit(repo, {"drivers/pci_vfio.c": NARROW_HEADER + PADDING + comment + inside + after},
           "pci: note the end of map_region")
    line = (NARROW_HEADER + PADDING + comment).count("\n") + 3
    assert check(repo, "--git", "HEAD")[:2] == (0, [
        ("VFIO003", "present", "drivers/pci_vfio.c", line, "pci: note the end of map_region")])


def test_rename_keeps_the_hazard_present_and_merges_are_skipped(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD").strip()
    commit(repo, {"drivers/pci_vfio.c": NARROW_HEADER + PADDING + SAFE}, "pci: shrink bar_map")
    git(repo, "checkout", "-q", "-b", "side")
    commit(repo, {"README": "notes\n"}, "docs: add notes")
    git(repo, "checkout", "-q", "main")
    git(repo, "mv", "drivers/pci_vfio.c", "drivers/vfio_pci.c")
    touched = (NARROW_HEADER + PADDING + SAFE).replace("return 0;", "return 1;")
    commit(repo, {"drivers/vfio_pci.c": touched}, "pci: rename and return 1")
    git(repo, "merge", "-q", "--no-ff", "-m", "Merge side", "side")
    code, found, _ = check(repo, "--git", f"{base}..HEAD")
    line = (NARROW_HEADER + PADDING).count("\n") + 3
    assert found == [
        ("VFIO003", "introduced", "drivers/pci_vfio.c", line, "pci: shrink bar_map"),
        ("VFIO003", "present", "drivers/vfio_pci.c", line, "pci: rename and return 1"),
    ]
    assert code == 1


def test_staged_change_and_untouched_index(repo: Path) -> None:
    (repo / "drivers/pci_vfio.c").write_text(NARROW_HEADER + PADDING + SAFE)
    git(repo, "add", "drivers/pci_vfio.c")
    index = repo / ".git" / "index"
    before = index.read_bytes()
    code, found, _ = check(repo, "--staged")
    line = (NARROW_HEADER + PADDING).count("\n") + 3
    assert found == [("VFIO003", "introduced", "drivers/pci_vfio.c", line, "staged changes")]
    assert code == 1
    assert index.read_bytes() == before
    git(repo, "commit", "-q", "-m", "x")
    assert check(repo, "--staged")[:2] == (0, [])


def test_bad_ranges_are_clear_errors(repo: Path) -> None:
    for bad in ("--output=/tmp/x", "no-such-rev..HEAD"):
        proc = run_cli("check", "--format", "json", "--repo", str(repo), "--git", bad)
        assert proc.returncode == 2, bad
        err = proc.stderr.decode()
        assert err.startswith("vfiolint: ") and len(err.strip().splitlines()) == 1, err
        assert "Traceback" not in err
    assert not Path("/tmp/x").exists()


def test_a_commit_git_cannot_show_is_one_error_and_hides_nothing(repo: Path, tmp_path: Path
                                                                ) -> None:
    base = git(repo, "rev-parse", "HEAD").strip()
    commit(repo, {"drivers/pci_vfio.c": NARROW_HEADER + PADDING + SAFE}, "pci: shrink bar_map")
    broken = commit(repo, {"drivers/other.c": "int lost(void) { return 1; }\n"}, "add other")
    commit(repo, {"drivers/pci_vfio.c": HEADER + PADDING + SAFE}, "pci: widen bar_map again")
    blob = git(repo, "rev-parse", f"{broken}:drivers/other.c").strip()
    (repo / ".git" / "objects" / blob[:2] / blob[2:]).unlink()  # a missing object
    # a cache of its own: the file's keyword parts, once kept, would not need the blob
    code, found, doc = check(repo, "--git", f"{base}..HEAD", "--cache-dir", str(tmp_path))
    line = (HEADER + PADDING).count("\n") + 3
    assert found == [
        ("VFIO003", "introduced", "drivers/pci_vfio.c", line, "pci: shrink bar_map"),
        ("VFIO003", "fixed", "drivers/pci_vfio.c", line, "pci: widen bar_map again"),
    ]
    assert code == 2
    assert [e["input"] for e in doc["errors"]] == [broken]
    assert doc["errors"][0]["message"] == (
        f"{broken[:12]}: git: drivers/other.c: blob {blob} is missing from the repository")


def test_shallow_clone_with_a_missing_parent_is_a_clear_error(repo: Path, tmp_path: Path) -> None:
    for i in range(3):
        commit(repo, {"drivers/pci_vfio.c": HEADER + PADDING + SAFE.replace("0;", f"{i + 1};")},
               f"change {i}")
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "2", f"file://{repo}", str(shallow))
    proc = run_cli("check", "--format", "json", "--repo", str(shallow), "--git", "HEAD~3..HEAD")
    err = proc.stderr.decode()
    assert proc.returncode == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("vfiolint: git rev-list: fatal:")
    assert "Traceback" not in err


def test_a_commit_adding_several_files_reads_each_file_s_own_text(repo: Path) -> None:
    hazard = HEADER.replace("uint64_t offset;", "uint32_t offset;") + PADDING + SAFE
    commit(repo, {"drivers/a_safe.c": HEADER + SAFE, "drivers/b_narrow.c": hazard,
                  "drivers/c_safe.c": HEADER + SAFE}, "pci: add three files")
    code, found, _ = check(repo, "--git", "HEAD")
    line = (NARROW_HEADER + PADDING).count("\n") + 3
    assert found == [("VFIO003", "introduced", "drivers/b_narrow.c", line, "pci: add three files")]
    assert code == 1


def test_a_commit_touching_many_files_does_not_hang(repo: Path) -> None:
    """A tree-wide change (a copyright update): the blob requests of both sides fill the pipe
    to git while git waits for its answers to be read. run_cli's timeout bounds the wait."""
    deep = "a_directory_with_a_rather_long_name_" * 5
    names = [f"lib/{deep}{i:04d}/file.c" for i in range(400)]

    def write_all(notice: str, narrow: bool) -> None:
        for k, name in enumerate(names):
            path = repo / name
            path.parent.mkdir(parents=True, exist_ok=True)
            text = (NARROW_HEADER if narrow else HEADER) + PADDING + SAFE if k == 200 else SAFE
            path.write_text(f"/* {notice} */\n{text}")
        git(repo, "add", "-A")

    write_all("(C) 2020", narrow=False)
    git(repo, "commit", "-q", "-m", "add modules")
    write_all("(C) 2020-2026", narrow=True)
    git(repo, "commit", "-q", "-m", "update copyright notices")
    code, found, _ = check(repo, "--git", "HEAD")
    line = (NARROW_HEADER + PADDING).count("\n") + 4
    assert found == [("VFIO003", "introduced", names[200], line, "update copyright notices")]
    assert code == 1


def test_staged_and_git_outside_a_repository_are_one_line_errors(tmp_path: Path) -> None:
    for args in (["--staged"], ["--git", "HEAD"], ["--pre-commit"]):
        proc = run_cli("check", *args, cwd=tmp_path)
        assert proc.returncode == 2, args
        assert proc.stderr.decode().splitlines() == [
            f"vfiolint: {tmp_path}: not in a git repository (--repo DIR names one)"], args


def test_an_added_file_does_not_shift_the_images_of_the_next(repo: Path) -> None:
    # DPDK 17c839f74da3 added bus_platform_driver.h beside platform.c: the added header has no
    # pre-image, and the images of every later file were read one request off, so platform.c's
    # finding came out under the header's path.
    header = "#include <stdint.h>\nstruct plat_dev { int id; };\n"
    commit(repo, {"drivers/a_new.h": header,
                  "drivers/pci_vfio.c": NARROW_HEADER + PADDING + SAFE}, "pci: add a header")
    code, found, doc = check(repo, "--git", "HEAD")
    line = (NARROW_HEADER + PADDING).count("\n") + 3
    assert found == [("VFIO003", "introduced", "drivers/pci_vfio.c", line, "pci: add a header")]
    detail = {d["path"]: d for c in doc["coverage"] for d in c["detail"]}
    assert detail["drivers/a_new.h"]["pre"] is None
    assert code == 1


REGION_MACRO = "#define VFIO_GET_REGION_ADDR(x) ((uint64_t) x << 40ULL)\n"
CONFIG_READ = """\
#include <stdint.h>
#include <unistd.h>
#include "vfio.h"

{macro}
int pci_read_config(int fd, void *buf, size_t len, off_t offs)
{{
	return pread64(fd, buf, len, VFIO_GET_REGION_ADDR(7) + offs);
}}
"""
VFIO_H = "#include <linux/vfio.h>\n\n#define VFIO_MAX_GROUPS 64\n"


def _statuses(repo: Path, rng: str) -> list[tuple[str, str, str, int]]:
    proc = run_cli("check", "--git", rng, "--repo", str(repo), "--format", "json", "--no-cache")
    assert proc.returncode in (0, 1), proc.stderr
    return [(f["rule"], f["status"], f["path"], f["line"])
            for f in json.loads(proc.stdout)["findings"]]


@pytest.mark.parametrize("copy", [False, True], ids=["moved", "copied"])
def test_a_define_moved_into_a_header_keeps_its_hazard_present(repo: Path, copy: bool) -> None:
    commit(repo, {"lib/pci_vfio.c": CONFIG_READ.format(macro=REGION_MACRO),
                  "lib/vfio.h": VFIO_H}, "region macro")
    moved = {"lib/vfio.h": VFIO_H + REGION_MACRO}
    if not copy:
        moved["lib/pci_vfio.c"] = CONFIG_READ.format(macro="")
    commit(repo, moved, "move the region macro into the header")
    # Moved word for word, the hazard is the one the file had: present. Copied (the .c keeps
    # its own), the header's is a new one: introduced.
    assert _statuses(repo, "HEAD~1..HEAD") == [
        ("VFIO003", "introduced" if copy else "present", "lib/vfio.h", 4)]


def test_a_range_is_read_whole_whatever_the_size_of_its_commits(repo: Path) -> None:
    """Commits arrive as git writes them, in reads of any size: a commit of several MB (many
    reads: a long message, and thousands of files), then many small ones (several in one
    read), each comes out whole and in order, with the files it changes."""
    from vfiolint.inputs.git import log_range

    base = git(repo, "rev-parse", "HEAD").strip()
    body = "".join(f"line {i} of a very long commit message\n" for i in range(100000))
    many = {f"drivers/generated/{'deep/' * 20}file_{i}.c": f"int f{i};\n" for i in range(3000)}
    for name, text in many.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", "drivers/generated")
    (repo.parent / "message").write_text("big: add many files\n\n" + body)
    git(repo, "commit", "-q", "-F", str(repo.parent / "message"))
    for i in range(40):
        commit(repo, {f"drivers/small_{i}.c": f"int small_{i};\n"}, f"small {i}")
    logged = list(log_range(repo, f"{base}..HEAD"))
    assert [c.subject for c in logged] == ["big: add many files"] + [
        f"small {i}" for i in range(40)]
    assert len(body) > 3 << 20 and logged[0].message.endswith(body.strip())
    assert sorted(c.new_path for c in logged[0].changes) == sorted(many)
    assert all(c.status == "A" and c.old_path is None for c in logged[0].changes)
    for n, item in enumerate(logged[1:]):
        assert [(c.status, c.new_path) for c in item.changes] == [("A", f"drivers/small_{n}.c")]


def test_a_range_reads_only_the_diffs_some_rule_needs(repo: Path, tmp_path: Path) -> None:
    """A commit's files come from its blob ids: the C file no rule's keywords occur in is
    listed with its hunks not counted (its diff is never computed), the one a rule reads has
    its hunks counted, and every file the commit touches counts, C or not."""
    base = git(repo, "rev-parse", "HEAD").strip()
    plain = "".join(f"int plain_{i}(void) {{ return {i}; }}\n" for i in range(40))
    commit(repo, {"lib/plain.c": plain}, "add a plain file")
    commit(repo, {"drivers/pci_vfio.c": NARROW_HEADER + PADDING + SAFE.replace("0;", "2;"),
                  "lib/plain.c": plain.replace("return 3;", "return 33;").replace(
                      "return 30;", "return 300;"),
                  "README": "notes\n"}, "pci: shrink bar_map, and more")
    code, found, doc = check(repo, "--git", f"{base}..HEAD", "--cache-dir", str(tmp_path))
    line = (HEADER + PADDING).count("\n") + 3
    assert found == [("VFIO003", "introduced", "drivers/pci_vfio.c", line,
                      "pci: shrink bar_map, and more")]
    assert code == 1
    last = doc["coverage"][-1]
    assert (last["files"], last["c_files"], last["hunks"]) == (3, 2, None)
    detail = {d["path"]: (d["hunks"], d["pre"]["parsed"], d["post"]["parsed"])
              for d in last["detail"]}
    assert detail == {"drivers/pci_vfio.c": (2, True, True), "lib/plain.c": (None, False, False)}
    first = doc["coverage"][0]
    assert (first["files"], first["c_files"], first["hunks"]) == (1, 1, None)


def test_a_file_named_like_a_pattern_has_its_own_diff_read(repo: Path) -> None:
    """The diff of a file some rule reads is asked for by its literal path: brackets, stars
    and a leading colon in a name select that file and no other."""
    odd = "drivers/:vfio[1]*.c"
    commit(repo, {odd: HEADER + PADDING + SAFE, "drivers/vfio1x.c": HEADER + PADDING + SAFE},
           "add two")
    commit(repo, {odd: NARROW_HEADER + PADDING + SAFE, "drivers/vfio1x.c":
                  NARROW_HEADER + PADDING + SAFE.replace("0;", "1;")}, "shrink both")
    code, found, _ = check(repo, "--git", "HEAD")
    line = (HEADER + PADDING).count("\n") + 3
    assert sorted(found) == [("VFIO003", "introduced", odd, line, "shrink both"),
                             ("VFIO003", "introduced", "drivers/vfio1x.c", line, "shrink both")]
    assert code == 1
