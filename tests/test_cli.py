"""The command line end to end, in a subprocess, as users and CI bots run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import ROOT, run_cli

SCHEMA = json.loads((ROOT / "tests" / "contract.schema.json").read_text())
SEEDS = {
    "corpus/qemu/2017-only-mmap-target-page-size-regions.txt": [("VFIO002", "fixed")],
    "corpus/qemu/2026-dma-map-file-shared-only.txt": [("VFIO001", "fixed")],
    "corpus/dpdk/2015-region-offset-overflow-discussion.txt": [],
    "corpus/linux/2015-msix-table-mmap-eeh-rfc.txt": [("VFIO005", "introduced")],
    "corpus/linux/2026-dmabuf-unmappable-bars.txt": [("VFIO004", "fixed")],
}
MMAP_HAZARD = """\
#include <sys/mman.h>
#include <linux/vfio.h>

static void *map_bar(int fd, struct vfio_region_info *info)
{
    if (info->flags & VFIO_REGION_INFO_FLAG_MMAP) return mmap(NULL, PAGE_ALIGN(info->size), PROT_READ, MAP_SHARED, fd, info->offset);
    return NULL;
}
"""


def json_run(*args: str, stdin: bytes | None = None) -> tuple[int, dict[str, object], str]:
    """Run with --format json; return exit code, validated document, stderr."""
    proc = run_cli("check", "--format", "json", *args, stdin=stdin)
    doc = json.loads(proc.stdout)
    jsonschema.validate(doc, SCHEMA)
    return proc.returncode, doc, proc.stderr.decode()


def verdicts(doc: dict[str, object]) -> list[tuple[str, str]]:
    """Return (rule, status) of each finding, in report order."""
    return [(f["rule"], f["status"]) for f in doc["findings"]]  # type: ignore[index,union-attr]


def test_each_seed_verdict() -> None:
    for seed, expected in SEEDS.items():
        code, doc, err = json_run(seed)
        assert verdicts(doc) == expected, seed
        assert doc["errors"] == [] and err == "", seed
        assert code == (1 if ("VFIO005", "introduced") in expected else 0), seed


def test_corpus_directory_runs_and_reports_every_input() -> None:
    code, doc, err = json_run("corpus")
    assert err == ""
    inputs = {f["patch"]["input"] for f in doc["findings"]}  # type: ignore[index]
    assert set(SEEDS) - {"corpus/dpdk/2015-region-offset-overflow-discussion.txt"} <= inputs
    assert code == 1  # the corpus holds patches that introduce hazards


def test_console_report_is_plain_off_a_tty() -> None:
    proc = run_cli("check", "corpus/qemu/2017-only-mmap-target-page-size-regions.txt")
    out = proc.stdout.decode()
    assert proc.returncode == 0
    assert "\x1b[" not in out
    assert "hw/misc/vfio.c:2577: VFIO002 fixed:" in out
    assert "in vfio_mmap_bar()" in out
    assert "[PATCH] vfio/pci: Only mmap >= TARGET_PAGE_SIZE regions" in out


def test_source_file_findings_are_present_and_fail(tmp_path: Path) -> None:
    src = tmp_path / "map.c"
    src.write_text(MMAP_HAZARD)
    code, doc, _ = json_run(str(src))
    assert code == 1
    assert [(f["rule"], f["status"], f["line"], f["patch"]) for f in doc["findings"]] == [
        ("VFIO002", "present", 6, None)]  # type: ignore[index]


def test_bad_input_is_one_error_and_the_rest_is_reported(tmp_path: Path) -> None:
    binary = tmp_path / "garbage.patch"
    binary.write_bytes(b"\x00\x01\x02" * 100)
    missing = tmp_path / "missing.patch"
    seed = "corpus/linux/2015-msix-table-mmap-eeh-rfc.txt"
    code, doc, err = json_run(str(binary), seed, str(missing))
    assert code == 2
    assert verdicts(doc) == [("VFIO005", "introduced")]
    assert [e["input"] for e in doc["errors"]] == [str(binary), str(missing)]  # type: ignore
    lines = err.strip().splitlines()
    assert len(lines) == 2
    assert lines[0] == f"vfiolint: {binary}: binary data, not a patch, mail or C source"
    assert lines[1].startswith(f"vfiolint: {missing}: cannot read")
    assert "Traceback" not in err


def test_stdin_input() -> None:
    data = (ROOT / "corpus/linux/2026-dmabuf-unmappable-bars.txt").read_bytes()
    code, doc, _ = json_run("-", stdin=data)
    assert code == 0
    assert [(f["rule"], f["status"], f["line"], f["patch"]["input"])  # type: ignore[index]
            for f in doc["findings"]] == [("VFIO004", "fixed", 362, "-")]


def test_select_and_ignore() -> None:
    seed = "corpus/linux/2015-msix-table-mmap-eeh-rfc.txt"
    assert verdicts(json_run("--select", "VFIO002", seed)[1]) == []
    assert verdicts(json_run("--select", "msix-table-mmap", seed)[1]) == [("VFIO005", "introduced")]
    code, doc, _ = json_run("--ignore", "VFIO005", seed)
    assert (code, verdicts(doc)) == (0, [])


def test_usage_errors_exit_2() -> None:
    for args in (["check"], ["check", "--format", "yaml", "x"], ["explain", "VFIO999"], ["nope"]):
        proc = run_cli(*args)
        assert proc.returncode == 2, args
        assert proc.stderr.decode().startswith("vfiolint: "), args
        assert "Traceback" not in proc.stderr.decode()


def test_rules_and_explain() -> None:
    proc = run_cli("rules")
    assert proc.returncode == 0
    ids = [line.split()[0] for line in proc.stdout.decode().splitlines()]
    assert ids == ["VFIO001", "VFIO002", "VFIO003", "VFIO004", "VFIO005", "VFIO006", "VFIO007",
                   "VFIO008", "VFIO009", "VFIO010", "VFIO011", "VFIO012", "VFIO013"]
    proc = run_cli("explain", "VFIO002")
    text = proc.stdout.decode()
    assert proc.returncode == 0
    assert text.startswith("# VFIO002 mmap-subpage-region")
    for heading in ("## Why is this bad?", "## Example", "## Use instead", "## Known problems"):
        assert heading in text
    assert "corpus/qemu/2017-only-mmap-target-page-size-regions.txt" in text


def test_version() -> None:
    proc = run_cli("--version")
    assert proc.returncode == 0
    assert proc.stdout.decode().startswith("vfiolint ")


def test_a_reader_that_goes_away_is_not_an_error() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "vfiolint", "check", "corpus"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()  # like 'vfiolint check corpus | head -1'
    err = proc.stderr.read().decode()
    assert proc.wait() == 1  # the verdict stands: the corpus introduces hazards
    assert err == ""


@pytest.mark.parametrize("args", [("rules",), ("explain", "VFIO002"), ("rules", "--all")])
def test_a_reader_that_went_away_is_no_error(args: tuple[str, ...]) -> None:
    # `vfiolint rules | head -1`: the pipe is closed before vfiolint writes
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run([sys.executable, "-m", "vfiolint", *args], stdout=write_end,
                              stderr=subprocess.PIPE, cwd=ROOT, timeout=60, check=False)
    finally:
        os.close(write_end)
    assert proc.returncode == 0
    assert proc.stderr == b""


def test_the_summary_names_what_was_read_and_nothing_else() -> None:
    from vfiolint.report import Counts

    assert Counts(inputs=2, patches=3, source_files=1).describe() == \
        "2 inputs (3 patches, 1 source file)"
    assert Counts(source_files=14).describe() == "14 source files"  # --tree REV
    assert Counts(commits=5).describe() == "5 commits"
    assert Counts(staged=1).describe() == "the staged change"
    assert Counts(inputs=1, source_files=1).describe() == "1 input (1 source file)"
    assert Counts().describe() == "0 inputs"


PLAIN_PATCH = """\
From 1111111111111111111111111111111111111111 Mon Sep 17 00:00:00 2001
From: A Developer <dev@example.org>
Date: Mon, 1 Jun 2026 10:00:00 +0000
Subject: [PATCH] net/foo: count dropped packets

Signed-off-by: A Developer <dev@example.org>
---
 drivers/net/foo/foo_rxtx.c | 1 +
 1 file changed, 1 insertion(+)

diff --git a/drivers/net/foo/foo_rxtx.c b/drivers/net/foo/foo_rxtx.c
--- a/drivers/net/foo/foo_rxtx.c
+++ b/drivers/net/foo/foo_rxtx.c
@@ -10,6 +10,7 @@ foo_recv_pkts(void *queue, struct rte_mbuf **pkts, uint16_t n)
 \tif (unlikely(rxq->tail == rxq->head)) {
+\t\trxq->stats.dropped++;
 \t\treturn 0;
 \t}
 \tfor (i = 0; i < n; i++)
"""


def modules_loaded_by_check(path: Path) -> set[str]:
    """Check one input in this process (one job, no memory bound: no worker) in a fresh
    interpreter; return the vfiolint modules it loaded."""
    code = ("import sys; from vfiolint.cli import main; "
            f"main(['check', {str(path)!r}, '--format', 'json', '--jobs', '1', "
            "'--memory-limit', '0']); "
            "print(' '.join(m for m in sys.modules if m.startswith('vfiolint')), "
            "file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, cwd=ROOT,
                          timeout=120, check=False)
    return set(proc.stderr.decode().split("\n")[-2].split())


# The rules' own modules import the value-following (flow), types and parser modules where
# they use them, not when the rules load.
C_MODEL = {"vfiolint.rules.engine", "vfiolint.inputs.images", "vfiolint.c.facts",
           "vfiolint.c.symbols", "vfiolint.c.lexer", "vfiolint.c.definitions",
           "vfiolint.c.flow", "vfiolint.c.types", "vfiolint.c.cparse"}


def test_the_c_model_is_loaded_only_for_a_file_some_rule_wants(tmp_path: Path) -> None:
    """A mailed patch whose files pass no rule's keywords is read, reported, and judged
    clean without loading the C model (most of a list's traffic); one that a rule wants
    loads it."""
    plain = tmp_path / "plain.patch"
    plain.write_text(PLAIN_PATCH)
    hazard = tmp_path / "map.c"
    hazard.write_text(MMAP_HAZARD)
    assert not modules_loaded_by_check(plain) & C_MODEL
    assert modules_loaded_by_check(hazard) >= C_MODEL
    code, doc, _ = json_run(str(plain))
    assert code == 0 and doc["findings"] == [] and doc["errors"] == []
    assert doc["coverage"][0]["c_files"] == 1  # type: ignore[index]
