"""The repository index: the lexical scan, name resolution on real git repositories, the cache.

Resolution goes the compiler's way: the file itself, the headers it includes along the include
path, then a definition anywhere in the tree the file could see; different definitions at one
step make the name ambiguous, and nothing is guessed. The cache survives concurrent runs, a
run killed while writing, damaged entries and a directory it cannot write.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli
from tests.test_git import commit, git
from vfiolint import gitstore
from vfiolint.c import cache as cache_mod
from vfiolint.c import scan as scan_mod
from vfiolint.c.cache import Cache
from vfiolint.c.definitions import Member, Where
from vfiolint.c.includes import IncludePath
from vfiolint.c.index import Repository, TreeSpec
from vfiolint.c.resolve import TreeDefinitions
from vfiolint.inputs.trees import worktree_spec

SHAPES = b"""\
#include <stdint.h>
#include "local.h"
#define PLAIN 0x10
#define CALL(a, b) \\
    ((a) << (b))   /* joined */
struct outer {
    uint32_t offset;            /* 32 bits */
    uint64_t size, *sizes;
    char name[16];
    int (*cb)(int, void *);
    unsigned int flags : 4;
    TAILQ_ENTRY(outer) next;
    union {
        int a;
        long b;
    };
    struct inner {
        short s;
    } in;
} __attribute__((packed));
typedef struct outer outer_t;
typedef uint64_t iova_t;
typedef int (*handler_t)(int);
static inline int helper(const struct outer *o, int n) { return n; }
int exported(struct outer *o, size_t len);
int exported(struct outer *o, size_t len)
{
    return 0;
}
#ifdef __cplusplus
extern "C" {
#endif
void in_extern_c(void);
#ifdef __cplusplus
}
#endif
"""


def test_scan_reads_every_kind_of_definition() -> None:
    facts = scan_mod.scan(SHAPES)
    macros = {m.name: m for m in facts.macros}
    assert macros["PLAIN"].params is None and macros["PLAIN"].body == "0x10"
    assert macros["CALL"].params == ("a", "b") and macros["CALL"].body == "((a) << (b))"
    assert macros["CALL"].where.line == 4
    assert [(i.name, i.quoted) for i in facts.includes] == [("stdint.h", False),
                                                            ("local.h", True)]
    records = {r.tag: r for body in facts.records for r in scan_mod.records(body)}
    assert records["outer"].members == (
        Member("offset", "uint32_t"), Member("size", "uint64_t"),
        Member("sizes", "uint64_t", 1), Member("name", "char", 0, True),
        Member("cb", "int", 1), Member("flags", "unsigned int"),
        Member("next", "TAILQ_ENTRY(outer)"), Member("a", "int"), Member("b", "long"),
        Member("in", "struct inner"))
    assert records["inner"].members == (Member("s", "short"),)
    assert records["outer"].where.line == 6
    typedefs = {t.name: t for t in facts.typedefs}
    assert (typedefs["outer_t"].type, typedefs["outer_t"].record) == ("struct outer", "outer")
    assert (typedefs["iova_t"].type, typedefs["iova_t"].pointer) == ("uint64_t", 0)
    assert typedefs["handler_t"].pointer == 1
    functions = [scan_mod.function(f) for f in facts.functions]
    assert [(f.name, f.definition, f.static) for f in functions] == [
        ("helper", True, True), ("exported", False, False), ("exported", True, False),
        ("in_extern_c", False, False)]
    helper = functions[0]
    assert (helper.returns, helper.params) == ("int", (
        Member("o", "const struct outer", 1), Member("n", "int")))


def test_plain_form_round_trips() -> None:
    facts = scan_mod.scan(SHAPES)
    again = scan_mod.BlobFacts.from_plain(facts.to_plain())
    assert again == facts
    assert sorted(scan_mod.plain_names(facts.to_plain())) == sorted(facts.names())


def test_a_member_the_lexer_cannot_split_is_read_by_a_parse() -> None:
    facts = scan_mod.scan(b"struct odd {\n  int (*table[4])(void);\n  uint64_t bar;\n};\n")
    (record,) = [r for body in facts.records for r in scan_mod.records(body)]
    assert [m.name for m in record.members] == ["table", "bar"]


# --- resolution on real repositories ------------------------------------------------------

BAR_H = "#include <stdint.h>\nstruct bar_map {\n    uint32_t offset;\n};\n#define REGION(i) ((i) << 40)\n"
WIDE_H = BAR_H.replace("uint32_t offset", "uint64_t offset").replace("<< 40", "<< 41")


def _defs(repo: Path, rev: str = "HEAD") -> TreeDefinitions:
    """Return the definitions of a revision's tree, without a cache."""
    return TreeDefinitions(Repository(repo), TreeSpec(gitstore.tree_of(repo, rev)))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    path = tmp_path / "tree"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    commit(path, {
        "include/bar.h": BAR_H,
        "include/deep.h": "#include <bar.h>\n#define DEEP 1\n",
        "drivers/a/pci.c": '#include <deep.h>\n#include "local.h"\nint use(void);\n',
        "drivers/a/local.h": "#define LOCAL_ONLY 3\nstruct bar_map { long offset; };\n",
        "drivers/b/own.c": "#define REGION(i) ((i) * 2)\nint f(void) { return REGION(1); }\n",
        "lib/x/helpers.c": "static int hidden(int a) { return a; }\n"
                           "long visible(long a, char *b) { return a; }\n",
        "lib/y/more.c": "static int hidden(char c) { return c; }\n",
        "arch/one/include/asm.h": "#define ARCH 1\n",
        "arch/two/include/asm.h": "#define ARCH 2\n",
        "lonely/types.h": "typedef unsigned long long wide_t;\n",
    }, "tree")
    return path


def test_the_file_itself_comes_first(tree: Path) -> None:
    found = _defs(tree).macro("REGION", "drivers/b/own.c").found
    assert found is not None
    assert (found.body, found.where) == ("((i) * 2)", Where("drivers/b/own.c", 1))


def test_includes_come_next_nearest_first(tree: Path) -> None:
    defs = _defs(tree)
    # "local.h" is included before <deep.h>'s <bar.h> is reached: its struct wins
    record = defs.record("bar_map", "drivers/a/pci.c").found
    assert record is not None and record.where == Where("drivers/a/local.h", 2)
    assert record.members == (Member("offset", "long"),)
    macro = defs.macro("REGION", "drivers/a/pci.c").found
    assert macro is not None and macro.where == Where("include/bar.h", 5)
    assert defs.macro("DEEP", "drivers/a/pci.c").found is not None


def test_then_a_unique_definition_anywhere_in_the_tree(tree: Path) -> None:
    defs = _defs(tree)
    found = defs.typedef("wide_t", "drivers/a/pci.c").found
    assert found is not None and found.where == Where("lonely/types.h", 1)
    visible = defs.function("visible", "drivers/a/pci.c").found
    assert visible is not None and [p.type for p in visible.params] == ["long", "char"]
    assert defs.function("hidden", "drivers/a/pci.c").found is None  # static elsewhere
    assert defs.function("hidden", "drivers/a/pci.c").ambiguous == ()
    assert defs.macro("NOWHERE", "drivers/a/pci.c").found is None


def test_different_definitions_are_ambiguous_and_never_guessed(tree: Path) -> None:
    answer = _defs(tree).macro("ARCH", "drivers/a/pci.c")
    assert answer.found is None
    assert set(answer.ambiguous) == {Where("arch/one/include/asm.h", 1),
                                     Where("arch/two/include/asm.h", 1)}


def test_the_same_definition_twice_is_not_ambiguous(tree: Path) -> None:
    commit(tree, {"arch/two/include/asm.h": "#define ARCH 1\n"}, "same")
    found = _defs(tree).macro("ARCH", "drivers/a/pci.c").found
    assert found is not None and found.body == "1"


def test_compile_commands_decide_between_folders(tree: Path) -> None:
    database = [{"directory": "/build/src/build", "file": "/build/src/drivers/a/pci.c",
                 "arguments": ["cc", "-I../arch/two/include", "-c", "../drivers/a/pci.c"]}]
    commit(tree, {"drivers/a/pci.c": "#include <asm.h>\n",
                  "compile_commands.json": json.dumps(database)}, "db")
    found = _defs(tree).macro("ARCH", "drivers/a/pci.c").found
    assert found is not None and found.where == Where("arch/two/include/asm.h", 1)


def test_include_path_does_not_guess_between_folders() -> None:
    paths = ["include/x.h", "lib/eal/x86/include/rte_spin.h", "lib/eal/arm/include/rte_spin.h",
             "drivers/bus/pci/private.h", "drivers/bus/pci/linux/pci.c"]
    include = IncludePath(paths)
    assert include.resolve("x.h", "drivers/bus/pci/linux/pci.c", quoted=False) == "include/x.h"
    assert include.resolve("rte_spin.h", "drivers/bus/pci/linux/pci.c", quoted=False) is None
    assert include.resolve("private.h", "drivers/bus/pci/linux/pci.c", quoted=True) == \
        "drivers/bus/pci/private.h"
    assert include.resolve("../../../../etc/passwd", "drivers/bus/pci/linux/pci.c",
                           quoted=True) is None


def test_a_work_tree_sees_its_modified_and_new_files(tree: Path) -> None:
    (tree / "include/bar.h").write_text(WIDE_H)
    (tree / "include/new.h").write_text("#define BRAND_NEW 7\n")
    index = (tree / ".git/index").read_bytes()
    repo = Repository(tree)
    defs = TreeDefinitions(repo, worktree_spec(repo))
    found = defs.macro("REGION", "drivers/a/pci.c").found
    assert found is not None and found.body == "((i) << 41)"
    assert defs.macro("BRAND_NEW", "drivers/a/pci.c").found is not None
    assert (tree / ".git/index").read_bytes() == index


def test_a_new_commit_rescans_only_the_blobs_it_changed(tree: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    cache = Cache.open(tmp_path / "cache")
    first = Repository(tree, cache)
    first.names(first.view(TreeSpec(gitstore.tree_of(tree, "HEAD"))))
    commit(tree, {"include/bar.h": WIDE_H}, "widen")
    scanned: list[bytes] = []
    real = scan_mod.scan

    def counting(text: bytes) -> scan_mod.BlobFacts:
        scanned.append(text)
        return real(text)

    monkeypatch.setattr("vfiolint.c.index.scan", counting)
    second = Repository(tree, cache)
    names = second.names(second.view(TreeSpec(gitstore.tree_of(tree, "HEAD"))))
    assert scanned == [WIDE_H.encode()]
    assert names.lookup("m", "REGION") == ("include/bar.h",)


def test_a_map_made_from_a_close_trees_is_kept_as_the_difference(
        tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = Cache.open(tmp_path / "cache")
    base = gitstore.tree_of(tree, "HEAD")
    first = Repository(tree, cache)
    first.names(first.view(TreeSpec(base)))  # the whole map of this tree
    commit(tree, {"include/bar.h": WIDE_H, "include/extra.h": "#define EXTRA 4\n"}, "widen")
    head = gitstore.tree_of(tree, "HEAD")
    second = Repository(tree, cache)
    derived = sorted(second.names(second.view(TreeSpec(head))).entries())  # from the close one

    def refused(*args: object) -> object:
        raise AssertionError("the kept difference should have answered")

    with monkeypatch.context() as patched:  # the next run neither lists nor scans anything
        patched.setattr("vfiolint.c.index.gitstore.diff_trees", refused)
        patched.setattr("vfiolint.c.index.scan", refused)
        third = Repository(tree, cache)
        names = third.names(third.view(TreeSpec(head)))
        assert sorted(names.entries()) == derived
        assert names.lookup("m", "EXTRA") == ("include/extra.h",)
    # Without its base's map the difference is no use: the map is made again, the same.
    for entry in (tmp_path / "cache").rglob("*"):
        if entry.is_file() and entry.parent.parent.name == "tree":
            entry.unlink()
    fourth = Repository(tree, cache)
    assert sorted(fourth.names(fourth.view(TreeSpec(head))).entries()) == derived


def test_vfiolint_index_counts_the_names_of_a_tree_derived_from_a_close_one(
        tree: Path, tmp_path: Path) -> None:
    def index(rev: str, cache: str) -> str:
        proc = run_cli("index", rev, "--repo", str(tree), "--cache-dir", str(tmp_path / cache))
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.decode().split(", ")[1]  # "N names in S s (…)"

    commit(tree, {"lib/y/more.c": "static int hidden(char c) { return c; }\nint more(void);\n",
                  "include/extra.h": "#define EXTRA 4\n"}, "more")
    assert index("HEAD~1", "warm").startswith("9 names")
    fresh = index("HEAD", "cold")  # every blob scanned
    assert fresh.startswith("11 names")
    assert index("HEAD", "warm").split(" in ")[0] == fresh.split(" in ")[0]  # from HEAD~1's map


def _answers(repo: Repository, rev: str, path: Path) -> tuple[object, ...]:
    """Return what the index says of drivers/a/pci.c in a revision's tree."""
    view = repo.view(TreeSpec(gitstore.tree_of(path, rev)))
    near = "drivers/a/pci.c"
    keys = ("m:DEEP", "m:DEEPER", "m:REGION", "s:bar_map", "m:EXTRA")
    return (repo.included(view, near), tuple(repo.nearest_definer(view, near, [k]) for k in keys),
            tuple(repo.names(view).lookup(k[0], k[2:]) for k in keys))


@pytest.mark.parametrize(("change", "differs"), [
    ({"drivers/a/pci.c": '#include <deep.h>\n#include "local.h"\nint use(void) { return 1; }\n'},
     False),
    ({"drivers/a/pci.c": '#include <deep.h>\n#include <extra.h>\nint use(void);\n',
      "include/extra.h": "#define EXTRA 4\n"}, True),
    ({"include/deep.h": "#include <bar.h>\n#define DEEPER 1\n"}, True),
    ({"include/deep.h": "#define DEEP 1\n"}, True),
    ({"drivers/a/local.h": "#define LOCAL_ONLY 4\nstruct bar_map { long offset; };\n"}, False),
], ids=["body", "new-include", "new-name", "dropped-include", "same-names"])
def test_the_next_commits_tree_made_from_the_last_one_answers_as_a_fresh_index(
        tree: Path, change: dict[str, str], differs: bool) -> None:
    ranged = Repository(tree)
    before = _answers(ranged, "HEAD", tree)
    commit(tree, change, "next")
    after = _answers(ranged, "HEAD", tree)  # made from the last tree's view, in one run
    assert ranged.view(TreeSpec(gitstore.tree_of(tree, "HEAD"))).parent is not None
    assert after == _answers(Repository(tree), "HEAD", tree)  # a fresh index
    assert (after != before) == differs


QUESTIONS = (("macro", "DEEP"), ("macro", "LOCAL_ONLY"), ("macro", "EXTRA"),
             ("record", "bar_map"), ("function", "visible"), ("typedef", "wide_t"))


def _asked(defs: TreeDefinitions) -> tuple[object, ...]:
    """Ask a tree's definitions the same questions, from drivers/a/pci.c."""
    return tuple(getattr(defs, kind)(name, "drivers/a/pci.c") for kind, name in QUESTIONS)


@pytest.mark.parametrize(("change", "found_again"), [
    ({"drivers/a/pci.c": '#include <deep.h>\n#include "local.h"\nint use(void) { return 1; }\n'},
     set()),
    ({"drivers/a/local.h": "#define LOCAL_ONLY 4\nstruct bar_map { long offset; };\n"},
     {"LOCAL_ONLY", "bar_map"}),
    ({"drivers/a/pci.c": '#include <deep.h>\n#include <extra.h>\nint use(void);\n',
      "include/extra.h": "#define EXTRA 4\n"}, set(QUESTIONS)),
    ({"include/deep.h": "#include <bar.h>\n"}, {"DEEP"}),
    ({"drivers/a/pci.c": '#include "local.h"\nint use(void);\n'}, set(QUESTIONS)),
    ({"arch/one/include/asm.h": "#define ARCH 1\ntypedef int wide_t;\n"}, {"wide_t"}),
    ({"lib/y/more.c": "static int hidden(char c) { return c; }\nint visible(void);\n"},
     {"visible"}),
], ids=["body", "definer-changed", "file-added", "stops-defining", "include-dropped",
        "starts-defining", "prototype-added"])
def test_an_answer_is_handed_to_the_next_tree_only_while_it_holds(
        tree: Path, change: dict[str, str], found_again: set[object]) -> None:
    """A commit's tree asks what the last tree answered: an answer is handed down unless a
    file it read changed, a changed file began or stopped defining the name, or the files
    that came or went changed the include path; every answer is the one a fresh index
    gives."""
    ranged = Repository(tree)
    _asked(TreeDefinitions(ranged, TreeSpec(gitstore.tree_of(tree, "HEAD"))))
    commit(tree, change, "next")
    spec = TreeSpec(gitstore.tree_of(tree, "HEAD"))
    view = ranged.view(spec)
    assert view.parent is not None
    path = "drivers/a/pci.c"
    kinds = {"macro": "m", "record": "s", "typedef": "t", "function": "f"}
    handed = {name for kind, name in QUESTIONS
              if ranged.answer(view, (kinds[kind], name, path)) is not None}
    again = {name for _, name in QUESTIONS} - handed
    want = {q[1] if isinstance(q, tuple) else q for q in found_again}
    assert again == want
    assert _asked(TreeDefinitions(ranged, spec)) == _asked(TreeDefinitions(Repository(tree), spec))


# --- the cache's hazards ------------------------------------------------------------------


def _index_run(repo: Path, cache_dir: Path, *extra: str) -> subprocess.CompletedProcess[bytes]:
    """Check every C file of a revision (an index of the whole tree is built)."""
    return run_cli("check", "--format", "json", "--repo", str(repo), "--cache-dir",
                   str(cache_dir), "--tree", "HEAD", *extra)


@pytest.fixture
def hazard_repo(tmp_path: Path) -> Path:
    """A repository whose .c finds its narrow struct in a header only through the index."""
    path = tmp_path / "hazard"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    files = {f"lib/gen{i}.h": f"#define GEN_{i} {i}\nstruct gen{i} {{ int v{i}; }};\n"
             for i in range(300)}
    files["include/bar.h"] = BAR_H
    files["drivers/pci.c"] = (
        "#include <linux/vfio.h>\n"
        "int map(struct vfio_region_info *info, struct bar_map *map)\n"
        "{\n    map->offset = info->offset;\n    return 0;\n}\n")
    commit(path, files, "init")
    return path


def _findings(proc: subprocess.CompletedProcess[bytes]) -> list[tuple[str, str, str, int]]:
    """Return (rule, status, path, line) of a JSON report."""
    return [(f["rule"], f["status"], f["path"], f["line"])
            for f in json.loads(proc.stdout)["findings"]]


EXPECTED = [("VFIO003", "present", "drivers/pci.c", 4)]


def _entries(cache_dir: Path) -> list[Path]:
    """Return the index's entry files in the cache (temporary files, locks and the table of
    the blobs' keyword parts left aside)."""
    return [p for p in cache_dir.rglob("*") if p.is_file() and "locks" not in p.parts
            and not p.name.startswith((".", "keywords-"))]


def test_a_damaged_entry_is_ignored_rebuilt_and_warned_once(hazard_repo: Path,
                                                            tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    assert _findings(_index_run(hazard_repo, cache_dir)) == EXPECTED
    entries = _entries(cache_dir)
    tree_entry = next(p for p in entries if p.parts[-3] == "tree")
    blob_entry = next(p for p in entries if p.parts[-3] == "blob")
    tree_entry.write_bytes(tree_entry.read_bytes()[:40])  # truncated
    blob_entry.write_bytes(b"garbage" * 10)
    proc = _index_run(hazard_repo, cache_dir)
    assert _findings(proc) == EXPECTED
    warnings = proc.stderr.decode().splitlines()
    assert len([w for w in warnings if "damaged entry" in w]) == 2, warnings
    assert any(str(tree_entry) in w for w in warnings)
    assert cache_mod.decode(tree_entry.read_bytes()) is not None  # rewritten whole
    again = _index_run(hazard_repo, cache_dir)
    assert _findings(again) == EXPECTED and b"damaged" not in again.stderr


def test_a_cache_path_that_is_a_file_means_no_cache_and_one_warning(hazard_repo: Path,
                                                                    tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file in the way\n")
    proc = _index_run(hazard_repo, blocker / "cache")
    assert proc.returncode == 1 and _findings(proc) == EXPECTED
    lines = proc.stderr.decode().splitlines()
    assert len(lines) == 1 and "cannot write" in lines[0], lines


def _make_read_only(folder: Path) -> bool:
    """Make a directory refuse new entries, for root too (chattr +i); False when impossible."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return True
    return subprocess.run(["chattr", "+i", str(folder)], capture_output=True,
                          check=False).returncode == 0


def test_a_read_only_cache_directory_is_read_not_written(hazard_repo: Path,
                                                         tmp_path: Path) -> None:
    cache_dir = tmp_path / "ro"
    cache_dir.mkdir()
    if not _make_read_only(cache_dir):
        pytest.skip("no way to make a read-only directory here (chattr +i refused)")
    try:
        proc = _index_run(hazard_repo, cache_dir)
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(cache_dir)], check=False)
        cache_dir.chmod(0o755)
    assert proc.returncode == 1 and _findings(proc) == EXPECTED
    lines = proc.stderr.decode().splitlines()
    assert len(lines) == 1 and "cannot write" in lines[0], lines
    assert list(cache_dir.iterdir()) == []


def test_two_runs_at_once_share_the_cache(hazard_repo: Path, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    command = [sys.executable, "-m", "vfiolint", "check", "--format", "json", "--repo",
               str(hazard_repo), "--cache-dir", str(cache_dir), "--tree", "HEAD"]
    procs = [subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for _ in range(3)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [1, 1, 1]
    assert all(err == b"" for _, err in outputs), outputs
    assert outputs[0][0] == outputs[1][0] == outputs[2][0]
    for entry in _entries(cache_dir):
        cache_mod.decode(entry.read_bytes())  # every entry whole


def test_a_run_killed_while_writing_leaves_no_damaged_entry(hazard_repo: Path,
                                                            tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    command = [sys.executable, "-m", "vfiolint", "check", "--format", "json", "--repo",
               str(hazard_repo), "--cache-dir", str(cache_dir), "--tree", "HEAD", "--jobs", "1"]
    killed = 0
    for wanted in (5, 60, 200):  # kill it at different points of the writing
        proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if len(_entries(cache_dir)) >= wanted:
                proc.send_signal(signal.SIGKILL)
                killed += 1
                break
            time.sleep(0.002)
        proc.wait(timeout=60)
        for entry in _entries(cache_dir):
            cache_mod.decode(entry.read_bytes())  # raises on a half-written entry
    assert killed >= 1
    proc_after = _index_run(hazard_repo, cache_dir)
    assert _findings(proc_after) == EXPECTED
    assert proc_after.stderr == b""


def test_name_map_lookup_finds_exactly_what_was_defined() -> None:
    import random
    import string

    from vfiolint.c.index import NameMap

    rnd = random.Random(7)

    def name() -> str:
        return "".join(rnd.choice(string.ascii_letters + "_") for _ in range(rnd.randint(1, 6)))

    files = {f"dir/f{i}.h": f"{i:040x}" for i in range(40)}
    defined = {oid: [(rnd.choice("mstfp"), name()) for _ in range(150)] for oid in files.values()}
    names = NameMap.build(files, defined.items())
    truth: dict[tuple[str, str], set[str]] = {}
    for path, oid in files.items():
        for kind, n in defined[oid]:
            truth.setdefault((kind, n), set()).add(path)
    for (kind, n), paths in truth.items():  # names that are prefixes of others included
        assert set(names.lookup(kind, n)) == paths
    for _ in range(3000):
        kind, n = rnd.choice("mstfp"), name()
        assert set(names.lookup(kind, n)) == truth.get((kind, n), set())
    assert names.lookup("m", "a\tb") == names.lookup("m", "a\nb") == ()


def test_an_include_path_made_from_the_last_trees_is_the_one_made_from_scratch() -> None:
    import random

    rng = random.Random(7)
    folders = ["include", "include/uapi/linux", "lib/eal/include", "lib/eal/linux", "lib/ring",
               "drivers/bus/pci", "drivers/bus/pci/linux", "arch/x86/include/asm", "src",
               "lib/new", "tools/include"]
    names = ["rte_ring.h", "vfio.h", "private.h", "pci.h", "rte_vfio.h", "io.h", "a.c", "b.c"]
    every = [f"{d}/{n}" for d in folders for n in names]
    paths = set(rng.sample(every, 40))
    path = IncludePath(paths)
    asked = [(n, near, q) for n in ["vfio.h", "linux/vfio.h", "rte_ring.h", "private.h",
                                    "asm/io.h", "../pci.h", "uapi/linux/vfio.h"]
             for near in ["drivers/bus/pci/linux/a.c", "lib/ring/b.c", "src/a.c"]
             for q in (True, False)]
    for _ in range(60):
        removed = set(rng.sample(sorted(paths), rng.randint(0, 3)))
        added = set(rng.sample(every, rng.randint(0, 3))) - paths
        path = path.successor(added, removed)
        paths = (paths - removed) | added
        fresh = IncludePath(paths)
        assert path.paths == fresh.paths
        assert {k: v for k, v in path.by_name.items() if v} == dict(fresh.by_name)
        assert (path.dirs, path.dir_order) == (fresh.dirs, fresh.dir_order)
        assert [path.resolve(*a) for a in asked] == [fresh.resolve(*a) for a in asked]


# --- the cache's bound ------------------------------------------------------------------------


def _size(cache_dir: Path) -> int:
    return sum(p.stat().st_size for p in _entries(cache_dir))


def test_a_cache_over_its_bound_loses_the_entries_used_longest_ago(hazard_repo: Path,
                                                                    tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    assert _findings(_index_run(hazard_repo, cache_dir, "--cache-limit", "0")) == EXPECTED
    entries = sorted(_entries(cache_dir))
    full = _size(cache_dir)
    now = time.time()
    for i, entry in enumerate(entries):  # each written on a day of its own, oldest first
        os.utime(entry, (now - (len(entries) - i) * 86400, now - (len(entries) - i) * 86400))
    leftover = cache_dir / "v1" / "blob" / ".tmp-killed"
    leftover.write_bytes(b"half")
    os.utime(leftover, (now - 7200, now - 7200))
    fresh_tmp = cache_dir / "v1" / "blob" / ".tmp-writing"
    fresh_tmp.write_bytes(b"under way")
    limit = full * 0.6
    proc = _index_run(hazard_repo, cache_dir, "--cache-limit", f"{limit / (1 << 20):.6f}")
    assert _findings(proc) == EXPECTED and proc.stderr == b""
    assert _size(cache_dir) <= limit * 0.8
    # Entries went oldest first: what the run used (read a tree's map, wrote an entry) is
    # newer than anything that went.
    written = {e: now - (len(entries) - i) * 86400 for i, e in enumerate(entries)}
    gone = [e for e in entries if not e.exists()]
    kept = [e for e in _entries(cache_dir)]
    assert gone and kept
    assert max(written[e] for e in gone) <= min(e.stat().st_mtime for e in kept)
    assert not leftover.exists() and fresh_tmp.exists()
    # Looked at once a day: the next run, over the bound again, removes nothing.
    _index_run(hazard_repo, cache_dir, "--cache-limit", "0")  # entries made again
    before = sorted(_entries(cache_dir))
    proc = _index_run(hazard_repo, cache_dir, "--cache-limit", f"{limit / (1 << 20):.6f}")
    assert _findings(proc) == EXPECTED and sorted(_entries(cache_dir)) == before


def test_a_bad_cache_bound_is_a_usage_error(hazard_repo: Path, tmp_path: Path) -> None:
    proc = _index_run(hazard_repo, tmp_path / "cache", "--cache-limit", "-1")
    assert proc.returncode == 2 and proc.stderr.decode().strip() == \
        "vfiolint: --cache-limit must be a number of MiB, or 0 for no bound"
    env = {**os.environ, "VFIOLINT_CACHE_LIMIT": "lots"}
    proc = subprocess.run([sys.executable, "-m", "vfiolint", "index", "HEAD", "--repo",
                           str(hazard_repo), "--cache-dir", str(tmp_path / "cache")],
                          cwd=ROOT, env=env, capture_output=True, timeout=120, check=False)
    assert proc.returncode == 2 and proc.stderr.decode().strip() == \
        "vfiolint: VFIOLINT_CACHE_LIMIT must be a number of MiB, or 0 for no bound"


def test_reading_a_trees_map_counts_as_using_it(tmp_path: Path) -> None:
    cache = Cache.open(tmp_path / "cache")
    cache.put("tree", "ab" * 20, (["x.h"], b"m:X 0\n"))
    cache.put("blob", "cd" * 20, ("facts",))
    paths = [tmp_path / "cache" / "v1" / kind / key[:2] / key[2:]
             for kind, key in (("tree", "ab" * 20), ("blob", "cd" * 20))]
    for path in paths:
        os.utime(path, (1_000_000, 1_000_000))
    assert cache.get("tree", "ab" * 20) is not None and cache.get("blob", "cd" * 20) is not None
    assert paths[0].stat().st_mtime > 1_000_000  # in use: what a bounded cache keeps
    assert paths[1].stat().st_mtime == 1_000_000  # a blob's entry: one of thousands, not touched


@pytest.mark.parametrize("changed", [5, 60], ids=["asked-per-file", "one-table"])
def test_a_delta_map_answers_as_the_map_of_the_changed_tree(changed: int) -> None:
    import random

    from vfiolint.c.index import DeltaMap, NameMap, _delta

    rnd = random.Random(changed)
    keys = [f"{k}:n{i}" for k in "mstfp" for i in range(40)]
    files = {f"d/f{i}.{'h' if i % 3 else 'c'}": f"{i:040x}" for i in range(80)}
    defined = {oid: frozenset(rnd.sample(keys, 12)) for oid in files.values()}

    def build(tree: dict[str, str], facts: dict[str, frozenset[str]]) -> NameMap:
        return NameMap.build(tree, ((o, [(k[0], k[2:]) for k in facts[o]]) for o in tree.values()))

    base = build(files, defined)
    changes: dict[str, frozenset[str] | None] = {}
    new_files, new_defined = dict(files), dict(defined)
    for path in rnd.sample(sorted(files), changed):
        if rnd.random() < 0.2:
            changes[path] = None
            del new_files[path]
        else:
            oid = f"{len(new_defined):040x}"
            new_defined[oid] = frozenset(rnd.sample(keys, 12))
            new_files[path], changes[path] = oid, new_defined[oid]
    for path in ("d/new.h", "d/new.c"):  # files that came
        oid = f"{len(new_defined):040x}"
        new_defined[oid] = frozenset(rnd.sample(keys, 12))
        new_files[path], changes[path] = oid, new_defined[oid]
    delta, whole = _delta(base, changes), build(new_files, new_defined)
    for key in keys:
        assert delta.lookup(key[0], key[2:]) == whole.lookup(key[0], key[2:]), key
    def listed(names: NameMap | DeltaMap) -> list[tuple[str, tuple[str, ...]]]:
        return sorted((k, tuple(sorted(v))) for k, v in names.entries())

    assert listed(delta) == listed(whole)
