"""Code read with its tree, from the user's side: ``--tree REV``, patches with ``--repo``
(series applied in memory), C files in a work tree; the same verdict whichever way a change
arrives, and nothing in the repository changes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.test_git import git

Finding = tuple[str, str, str, int]

NARROW_H = """\
#include <stdint.h>

struct bar_map {
    uint32_t offset;
    uint64_t size;
};
"""
WIDE_H = NARROW_H.replace("uint32_t offset", "uint64_t offset")
VFIO_H = """\
#include <stdint.h>
#define VFIO_GET_REGION_ADDR(x) ((uint64_t) x << 40ULL)
"""
PCI_C = """\
#include <sys/mman.h>
#include <linux/vfio.h>
#include <bar.h>

static int map_bar(int fd, struct vfio_region_info *info, struct bar_map *map)
{
    map->size = info->size;
    return 0;
}
"""
STORE = "    map->size = info->size;\n"
HAZARD = "    map->size = info->size;\n    map->offset = info->offset;\n"
MMAP = """
static void *mmap_region(int fd, struct vfio_region_info *reg)
{
    unsigned int off = reg->offset;

    return mmap(NULL, reg->size, PROT_READ, MAP_SHARED, fd, off);
}
"""


def commit_all(repo: Path, files: dict[str, str | None], message: str) -> str:
    """Write (or delete, for None) files, commit them all, return the commit id."""
    for name, text in files.items():
        path = repo / name
        if text is None:
            git(repo, "rm", "-q", name)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        git(repo, "add", name)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def check(*args: str, cwd: Path | None = None) -> tuple[int, list[Finding], dict]:
    """Run vfiolint; return the exit code, (rule, status, path, line), the document."""
    proc = run_cli("check", "--format", "json", "--no-cache", *args, cwd=cwd)
    assert proc.stdout, proc.stderr
    doc = json.loads(proc.stdout)
    return proc.returncode, [(f["rule"], f["status"], f["path"], f["line"])
                             for f in doc["findings"]], doc


def contexts(doc: dict) -> list[tuple[str, str]]:
    """Return (path, context) of every file of a report's coverage."""
    return [(d["path"], d["context"]) for c in doc["coverage"] for d in c["detail"]]


@pytest.fixture
def history(tmp_path: Path) -> tuple[Path, list[str]]:
    """A repository with a range of commits touching a .c file and the headers it includes,
    with hazards in both; returns the repository and the range's commits, oldest first."""
    repo = tmp_path / "répo with space"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commits = [commit_all(repo, {"include/bar.h": WIDE_H, "include/vfio_ext.h": VFIO_H,
                                 "drivers/pci.c": PCI_C}, "base")]
    steps: list[tuple[dict[str, str | None], str]] = [
        ({"include/bar.h": NARROW_H}, "bar: narrow the offset"),
        ({"drivers/pci.c": PCI_C.replace(STORE, HAZARD)}, "pci: keep the offset"),
        ({"drivers/pci.c": PCI_C.replace(STORE, HAZARD) + MMAP}, "pci: mmap regions"),
        ({"include/bar.h": WIDE_H, "drivers/pci.c": PCI_C.replace(STORE, HAZARD + STORE)},
         "bar: widen the offset, store twice"),
        ({"drivers/dé v.c": '#include "../include/vfio_ext.h"\n'
                            "long at(int i) { return VFIO_GET_REGION_ADDR(i); }\n"
                            "struct bar_map *m;\nvoid f(struct vfio_region_info *info)\n"
                            "{\n    m->offset = info->offset;\n}\n",
          "include/bar.h": NARROW_H}, "add a file with a space and narrow again"),
        ({"drivers/pci.c": None, "drivers/vfio_pci.c": PCI_C.replace(STORE, HAZARD) + MMAP},
         "pci: rename"),
    ]
    for files, message in steps:
        commits.append(commit_all(repo, files, message))
    return repo, commits[1:]


def test_a_mailed_patch_with_its_repo_gets_the_verdict_of_git(history: tuple[Path, list[str]],
                                                            tmp_path: Path) -> None:
    repo, commits = history
    seen, paths = set(), set()
    for sha in commits:
        _, from_git, _ = check("--repo", str(repo), "--git", sha)
        patch = tmp_path / f"{sha}.patch"
        patch.write_bytes(subprocess.run(
            ["git", "-C", str(repo), "format-patch", "-1", "--stdout", f"--base={sha}^", sha],
            check=True, capture_output=True).stdout)
        _, mailed, doc = check("--repo", str(repo), str(patch))
        assert mailed == from_git, sha
        # a changed file is found by its index line; an added one has its tree's base
        assert {c for _, c in contexts(doc)} <= {"blob", "base-commit"}, contexts(doc)
        seen.update(f[1] for f in from_git)
        paths.update(f[2] for f in from_git)
    assert {"introduced", "fixed", "present"} <= seen  # the range holds every kind
    assert "drivers/dé v.c" in paths  # a quoted (non-ASCII, spaced) name is read too


def test_a_whole_series_in_one_mbox_gets_the_verdicts_of_git(history: tuple[Path, list[str]],
                                                           tmp_path: Path) -> None:
    repo, commits = history
    _, from_git, _ = check("--repo", str(repo), "--git", f"{commits[0]}^..{commits[-1]}")
    mbox = tmp_path / "series.mbox"
    mbox.write_bytes(subprocess.run(
        ["git", "-C", str(repo), "format-patch", "--stdout", "--cover-letter",
         f"--base={commits[0]}^", f"{commits[0]}^..{commits[-1]}"],
        check=True, capture_output=True).stdout)
    _, mailed, _ = check("--repo", str(repo), str(mbox))
    assert sorted(mailed) == sorted(from_git)


def test_a_file_in_a_checkout_gets_the_verdict_of_tree(history: tuple[Path, list[str]],
                                                      tmp_path: Path) -> None:
    repo, commits = history
    checkout = tmp_path / "checkout"
    git(tmp_path, "clone", "-q", str(repo), str(checkout))
    found_any = False
    for sha in commits:
        git(checkout, "checkout", "-q", sha)
        for path in ("drivers/pci.c", "drivers/vfio_pci.c", "drivers/dé v.c"):
            if not (checkout / path).exists():
                continue
            code_tree, from_tree, doc = check("--repo", str(repo), "--tree", sha, path)
            code_file, from_file, file_doc = check(path, cwd=checkout)
            assert from_file == from_tree, (sha, path)
            assert code_file == code_tree
            assert contexts(doc) == contexts(file_doc) == [(path, "tree")]
            found_any = found_any or bool(from_tree)
            assert all(f[1] == "present" for f in from_tree)
    assert found_any


def test_tree_takes_pathspecs_like_git_grep(history: tuple[Path, list[str]]) -> None:
    repo, commits = history
    code, found, doc = check("--repo", str(repo), "--tree", commits[-1], "drivers/*.c")
    assert code == 1
    assert sorted({f[2] for f in found}) == ["drivers/dé v.c", "drivers/vfio_pci.c"]
    assert [c["input"] for c in doc["coverage"]] == [f"{commits[-1]}:drivers/dé v.c",
                                                     f"{commits[-1]}:drivers/vfio_pci.c"]
    assert check("--repo", str(repo), "--tree", commits[-1], "include/bar.h")[:2] == (0, [])
    _, found, _ = check("--repo", str(repo), "--tree", commits[-1], "include")
    assert found == [("VFIO003", "present", "include/vfio_ext.h", 2)]


def test_tree_spread_over_workers_reports_what_one_process_reports(tmp_path: Path) -> None:
    repo = tmp_path / "many"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    files = {f"lib/f{i:02}.c": f"int f{i}(void) {{ return {i}; }}\n" for i in range(40)}
    files.update({"include/bar.h": NARROW_H, "drivers/pci.c": PCI_C.replace(STORE, HAZARD)})
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "many files")
    cache = str(tmp_path / "cache")
    one = run_cli("check", "--format", "json", "--repo", str(repo), "--tree", "HEAD",
                  "--jobs", "1", "--cache-dir", cache)
    two = run_cli("check", "--format", "json", "--repo", str(repo), "--tree", "HEAD",
                  "--jobs", "2", "--cache-dir", cache)
    assert one.returncode == two.returncode == 1, two.stderr
    assert one.stdout == two.stdout
    doc = json.loads(two.stdout)
    assert doc["counts"]["source_files"] == 42
    assert [f["path"] for f in doc["findings"]] == ["drivers/pci.c"]


HEADER_ONLY_BASE = {"include/bar.h": NARROW_H, "drivers/pci.c": PCI_C}


def _patch_of(repo: Path, files: dict[str, str | None], message: str) -> str:
    """Commit a change on a side branch, return it as a format-patch, and forget the commit
    (the repository keeps only the base: the patch arrives by mail)."""
    git(repo, "checkout", "-q", "-b", "side")
    sha = commit_all(repo, files, message)
    text = subprocess.run(["git", "-C", str(repo), "format-patch", "-1", "--stdout", sha],
                          check=True, capture_output=True, text=True).stdout
    git(repo, "checkout", "-q", "main")
    git(repo, "branch", "-q", "-D", "side")
    return text


def test_a_hazard_split_between_header_and_c_is_caught_from_a_c_only_patch(
        tmp_path: Path) -> None:
    repo = tmp_path / "split"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, HEADER_ONLY_BASE, "base")
    patch = tmp_path / "0001.patch"
    patch.write_text(_patch_of(repo, {"drivers/pci.c": PCI_C.replace(STORE, HAZARD)},
                               "pci: keep the offset"))
    assert "include/bar.h" not in patch.read_text()  # the patch touches the .c only
    code, found, doc = check("--repo", str(repo), str(patch))
    assert found == [("VFIO003", "introduced", "drivers/pci.c", 8)]
    assert code == 1
    assert contexts(doc) == [("drivers/pci.c", "blob")]
    code, found, doc = check(str(patch))  # hunks alone: the struct is out of sight
    assert (code, found) == (0, [])
    assert contexts(doc) == [("drivers/pci.c", "hunks")]


def test_each_file_says_which_context_it_was_read_in(tmp_path: Path) -> None:
    repo = tmp_path / "ctx"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    base = commit_all(repo, HEADER_ONLY_BASE, "base")
    text = _patch_of(repo, {"drivers/pci.c": PCI_C.replace(STORE, HAZARD)}, "keep")
    no_index = re.sub(r"(?m)^index [0-9a-f]+\.\.[0-9a-f]+.*\n", "", text)
    cases = {
        "blob": text,
        "base-commit": no_index.replace("\n-- \n", f"\nbase-commit: {base}\n-- \n"),
        "head": no_index,
        "hunks": no_index.replace(" #include <bar.h>", " #include <other.h>"),
    }
    commit_all(repo, {"drivers/pci.c": PCI_C.replace("return 0;", "return 1;")}, "moved on")
    for expected, body in cases.items():
        patch = tmp_path / f"{expected}.patch"
        patch.write_text(body)
        _, found, doc = check("--repo", str(repo), str(patch))
        if expected == "head":  # HEAD moved on: its file does not take the hunks
            assert contexts(doc) == [("drivers/pci.c", "hunks")]
            _, found, doc = check("--repo", str(repo), "--base", base, str(patch))
        assert contexts(doc) == [("drivers/pci.c", expected)], expected
        assert found == ([("VFIO003", "introduced", "drivers/pci.c", 8)]
                         if expected != "hunks" else []), expected


def test_a_series_is_applied_in_memory_in_series_order(tmp_path: Path) -> None:
    repo = tmp_path / "series"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, HEADER_ONLY_BASE, "base")
    git(repo, "checkout", "-q", "-b", "side")
    step1 = PCI_C.replace("    return 0;\n}\n", "    return 0;\n}\n\nint probe(void) { return 0; }\n")
    commit_all(repo, {"drivers/pci.c": step1}, "pci: add probe")
    step2 = step1.replace(STORE, HAZARD)
    commit_all(repo, {"drivers/pci.c": step2}, "pci: keep the offset")
    commit_all(repo, {"drivers/pci.c": step2 + MMAP}, "pci: mmap")
    _, from_git, _ = check("--repo", str(repo), "--git", "main..side")
    mbox = tmp_path / "series.mbox"
    mbox.write_bytes(subprocess.run(["git", "-C", str(repo), "format-patch", "--stdout",
                                     "main..side"], check=True, capture_output=True).stdout)
    git(repo, "checkout", "-q", "main")
    git(repo, "branch", "-q", "-D", "side")
    git(repo, "reflog", "expire", "--expire=now", "--all")
    git(repo, "gc", "-q", "--prune=now")  # 2/3 and 3/3 name blobs the repository lost
    assert {f[1] for f in from_git} == {"introduced"} and len(from_git) == 2
    _, mailed, doc = check("--repo", str(repo), str(mbox))
    assert mailed == from_git
    assert {c for _, c in contexts(doc)} == {"blob"}
    # 2/3 alone: its blob is gone and HEAD does not take its hunks: hunks alone
    second = tmp_path / "second.patch"
    second.write_text(re.split(r"(?m)^(?=From [0-9a-f]{40} )", mbox.read_text())[2])
    _, _, doc = check("--repo", str(repo), str(second))
    assert contexts(doc) == [("drivers/pci.c", "hunks")]


def _state(repo: Path) -> tuple[bytes, bytes, bytes, dict[str, bytes]]:
    """Return what must not change: the index file, the refs, the status and every file."""
    files = {str(p.relative_to(repo)): p.read_bytes() for p in repo.rglob("*")
             if p.is_file() and ".git" not in p.relative_to(repo).parts}
    refs = subprocess.run(["git", "-C", str(repo), "for-each-ref", "--format=%(refname) "
                           "%(objectname)"], check=True, capture_output=True).stdout
    head = (repo / ".git/HEAD").read_bytes()
    status = subprocess.run(["git", "-C", str(repo), "status", "--porcelain=v1", "-z"],
                            check=True, capture_output=True).stdout
    return (repo / ".git/index").read_bytes(), refs + head, status, files


def test_nothing_in_the_repository_changes(history: tuple[Path, list[str]],
                                           tmp_path: Path) -> None:
    repo, commits = history
    (repo / "drivers/vfio_pci.c").write_text(PCI_C.replace(STORE, HAZARD) + "// edited\n")
    (repo / "include/bar.h").write_text(WIDE_H)
    git(repo, "add", "include/bar.h")
    (repo / "drivers/new é.c").write_text(PCI_C)
    patch = tmp_path / "p.patch"
    patch.write_bytes(subprocess.run(["git", "-C", str(repo), "format-patch", "-1", "--stdout",
                                      commits[2]], check=True, capture_output=True).stdout)
    os.utime(repo / "drivers/vfio_pci.c", (1, 1))  # a stale stat: git must not refresh it
    before = _state(repo)
    runs = [("--repo", str(repo), "--git", f"{commits[0]}..HEAD"),
            ("--repo", str(repo), "--staged"),
            ("--repo", str(repo), "--tree", "HEAD"),
            ("--repo", str(repo), str(patch)),
            ("--repo", str(repo), "--base", commits[1], str(patch))]
    for args in runs:
        code, _, doc = check(*args)
        assert code in (0, 1) and doc["errors"] == [], args
    # the work tree's bar.h is wide again: the file checked there sees it, HEAD does not
    _, at_head, _ = check("--repo", str(repo), "--tree", "HEAD", "drivers/vfio_pci.c")
    assert ("VFIO003", "present", "drivers/vfio_pci.c", 8) in at_head
    code, found, doc = check("drivers/vfio_pci.c", "drivers/new é.c", cwd=repo)
    assert (code, found, doc["errors"]) == (0, [], [])
    assert sorted(contexts(doc)) == [("drivers/new é.c", "tree"), ("drivers/vfio_pci.c", "tree")]
    assert _state(repo) == before


def test_revisions_never_become_options(history: tuple[Path, list[str]],
                                        tmp_path: Path) -> None:
    repo, _ = history
    trap = tmp_path / "trap"
    for args in (("--tree=--output=" + str(trap),), ("--tree", "HEAD", "--", "--output=x"),
                 ("--base=--output=" + str(trap), str(tmp_path / "none.patch"))):
        proc = run_cli("check", "--format", "json", "--no-cache", "--repo", str(repo), *args)
        assert proc.returncode in (0, 2), (args, proc.stderr)
        assert b"Traceback" not in proc.stderr
    assert not trap.exists()
    proc = run_cli("check", "--no-cache", "--repo", str(repo), "--tree=-h")
    assert proc.returncode == 2 and b"invalid revision" in proc.stderr


def test_repo_that_is_no_repository_is_each_inputs_clear_error(tmp_path: Path) -> None:
    patch = tmp_path / "p.patch"
    patch.write_text("diff --git a/x.c b/x.c\n--- a/x.c\n+++ b/x.c\n@@ -1 +1 @@\n-int a;\n+int b;\n")
    proc = run_cli("check", "--no-cache", "--repo", str(tmp_path), str(patch))
    assert proc.returncode == 2
    lines = proc.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "not a git repository" in lines[0], lines


DPDK = os.environ.get("VFIOLINT_DPDK")


@pytest.mark.skipif(not DPDK, reason="VFIOLINT_DPDK names no DPDK git directory")
def test_dpdk_history_mailed_or_logged_gets_the_same_verdict(tmp_path: Path) -> None:
    assert DPDK is not None
    repo = Path(DPDK)
    # the last 40 commits touching VFIO code of the PCI bus and the EAL, under any name
    listed = subprocess.run(
        ["git", "--git-dir", str(repo), "log", "--no-merges", "--format=%H", "-n", "40",
         "v24.03", "--", "drivers/bus/pci/*vfio*", "lib/eal/*vfio*", "lib/librte_eal/*vfio*",
         "drivers/bus/pci/**/*vfio*", "lib/eal/**/*vfio*", "lib/librte_eal/**/*vfio*"],
        check=True, capture_output=True, text=True).stdout.split()
    differ = []
    findings = 0
    for sha in listed:
        _, from_git, _ = check("--repo", str(repo), "--git", sha)
        patch = tmp_path / f"{sha}.patch"
        patch.write_bytes(subprocess.run(
            ["git", "--git-dir", str(repo), "format-patch", "-1", "--stdout", f"--base={sha}^",
             sha], check=True, capture_output=True).stdout)
        _, mailed, _ = check("--repo", str(repo), str(patch))
        findings += len(from_git)
        if mailed != from_git:
            differ.append((sha[:12], from_git, mailed))
    assert len(listed) == 40
    assert differ == []
    assert findings > 0  # the range is not one without verdicts


def test_the_staged_change_sees_the_staged_header(tmp_path: Path) -> None:
    repo = tmp_path / "staged"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit_all(repo, {"include/bar.h": WIDE_H, "drivers/pci.c": PCI_C.replace(STORE, HAZARD)},
               "base")
    (repo / "include/bar.h").write_text(NARROW_H)
    (repo / "drivers/pci.c").write_text(PCI_C.replace(STORE, HAZARD).replace("0;", "1;"))
    git(repo, "add", "include/bar.h", "drivers/pci.c")
    (repo / "include/bar.h").write_text(WIDE_H)  # the work tree differs from the index again
    code, found, doc = check("--repo", str(repo), "--staged")
    assert found == [("VFIO003", "introduced", "drivers/pci.c", 8)]
    assert code == 1 and contexts(doc) == [("drivers/pci.c", "tree"), ("include/bar.h", "tree")]
    assert check("--repo", str(repo), "--staged", "--no-index")[:2] == (0, [])


def test_quoted_paths_are_unquoted() -> None:
    from vfiolint.inputs.diff import strip_prefix

    assert strip_prefix('"b/drivers/d\\303\\251 v.c"') == "drivers/dé v.c"
    assert strip_prefix('"a/tab\\there\\"q\\\\.c"') == 'tab\there"q\\.c'
    assert strip_prefix("b/plain name.c\t2024-01-01") == "plain name.c"


def test_hunks_apply_exactly_or_not_at_all() -> None:
    from vfiolint.inputs import diff
    from vfiolint.inputs.trees import apply_hunks

    old = b"a\nb\nc\nd\n"
    patch = ("--- a/x.c\n+++ b/x.c\n@@ -0,0 +1 @@\n+first\n@@ -2,2 +3 @@ \n-b\n-c\n+bc\n"
             "@@ -4 +4,0 @@\n-d\n")
    (f,) = diff.parse(patch)
    assert apply_hunks(old, f.hunks) == b"first\na\nbc\n"
    assert apply_hunks(b"a\nB\nc\nd\n", f.hunks) is None  # a context line differs
    assert apply_hunks(b"a\nb\nc\nd", f.hunks) == b"first\na\nbc"  # no final newline kept
    (new,) = diff.parse("--- /dev/null\n+++ b/n.c\n@@ -0,0 +1,2 @@\n+x\n+y\n")
    assert apply_hunks(b"", new.hunks) == b"x\ny\n"


def test_a_trees_clang_format_names_its_macros(tmp_path: Path) -> None:
    repo = tmp_path / "fmt"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    body = ("#include <linux/vfio.h>\nint walk(struct vfio_region_info *info)\n{\n"
            "    int n = 0;\n    my_walk(info, &list, struct node) {\n        n++;\n    }\n    return n;\n}\n")
    commit_all(repo, {".clang-format": "ForEachMacros: [my_walk]\n", "drivers/w.c": body},
               "base")
    (repo / ".clang-format").unlink()  # only the revision's tree holds it now
    _, _, doc = check("--repo", str(repo), "--tree", "HEAD", "drivers/w.c")
    (detail,) = [d for c in doc["coverage"] for d in c["detail"]]
    assert detail["post"]["error_nodes"] == 0
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "w.c").write_text(body)
    _, _, doc = check(str(alone / "w.c"))
    (detail,) = [d for c in doc["coverage"] for d in c["detail"]]
    assert detail["post"]["error_nodes"] > 0  # the same text, without its tree


def test_an_ambiguous_name_is_not_guessed_and_the_coverage_says_so(tmp_path: Path) -> None:
    repo = tmp_path / "amb"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    lonely = PCI_C.replace(STORE, HAZARD).replace("#include <bar.h>\n", "")
    commit_all(repo, {"a/bar.h": NARROW_H, "b/bar.h": WIDE_H, "drivers/pci.c": lonely}, "two")
    code, found, doc = check("--repo", str(repo), "--tree", "HEAD", "drivers/pci.c")
    assert (code, found) == (0, [])
    (detail,) = [d for c in doc["coverage"] for d in c["detail"]]
    assert detail["ambiguous"] == ["struct bar_map"]
    commit_all(repo, {"b/bar.h": None}, "one")  # one definition left: it is the answer
    _, found, doc = check("--repo", str(repo), "--tree", "HEAD", "drivers/pci.c")
    assert found == [("VFIO003", "present", "drivers/pci.c", 7)]
    assert [d["ambiguous"] for c in doc["coverage"] for d in c["detail"]] == [[]]


def test_the_model_can_note_an_ambiguous_name_itself() -> None:
    from vfiolint.c.definitions import NO_DEFINITIONS, Recording, note_ambiguous

    recording = Recording(NO_DEFINITIONS)
    note_ambiguous(recording, "REGION_ADDR")
    note_ambiguous(NO_DEFINITIONS, "ignored")  # a provider that records nothing
    assert recording.ambiguous() == ("REGION_ADDR",)
    assert recording.macro("X", "a.c").found is None and recording.key == ""
