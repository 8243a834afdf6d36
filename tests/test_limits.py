"""Hostile inputs end in a clear "skipped" error for themselves, and lose nothing else."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import ROOT, run_cli
from tests.test_cli import MMAP_HAZARD

SEED = "corpus/linux/2015-msix-table-mmap-eeh-rfc.txt"
SEED_FINDING = ("VFIO005", "introduced", "drivers/vfio/pci/vfio_pci.c", 877)


def run(*args: str) -> tuple[int, list[tuple[object, ...]], list[str], str]:
    """Run on the inputs; return code, (rule, status, path, line), error messages, stderr."""
    proc = run_cli("check", "--format", "json", *args)
    doc = json.loads(proc.stdout)
    found = [(f["rule"], f["status"], f["path"], f["line"]) for f in doc["findings"]]
    return proc.returncode, found, [e["message"] for e in doc["errors"]], proc.stderr.decode()


def test_three_megabyte_line(tmp_path: Path) -> None:
    big = tmp_path / "long.c"
    big.write_text(MMAP_HAZARD + "static int x = 1" + " + 1" * 750_000 + ";\n")
    code, found, errors, err = run(str(big), SEED)
    assert code == 2 and found == [SEED_FINDING]
    assert errors == [f"{big}: skipped: too large (a line of 2.9 MiB, limit 1 MiB)"]
    assert err.count("\n") == 1 and "Traceback" not in err


def test_twenty_thousand_hunks(tmp_path: Path) -> None:
    head = "From 0 Mon Sep 17 00:00:00 2001\nFrom: A <a@example.org>\nSubject: [PATCH] x\n\n" \
           "---\ndiff --git a/x.c b/x.c\n--- a/x.c\n+++ b/x.c\n"
    hunks = "".join(f"@@ -{i * 10 + 1},1 +{i * 10 + 1},1 @@\n-int a{i};\n+int b{i};\n"
                    for i in range(20_000))
    patch = tmp_path / "many.patch"
    patch.write_text(head + hunks)
    code, found, errors, _ = run(str(patch), SEED)
    assert code == 2 and found == [SEED_FINDING]
    assert errors == [f"{patch}: skipped: too large (20000 hunks, limit 5000)"]


def test_twenty_thousand_deep_parentheses_are_analysed(tmp_path: Path) -> None:
    deep = tmp_path / "deep.c"
    deep.write_text(
        "#include <stdint.h>\n"
        "int h(struct vfio_region_info *reg)\n{\n    uint32_t x = "
        + "(" * 20_000 + "reg->offset" + ")" * 20_000 + ";\n    return x;\n}\n")
    code, found, errors, _ = run(str(deep), SEED)
    assert errors == []
    assert found == [("VFIO003", "present", str(deep), 4), SEED_FINDING]
    assert code == 1


def test_oversized_message_in_an_mbox_is_skipped_and_the_rest_read(tmp_path: Path) -> None:
    seed = (ROOT / "corpus/qemu/2017-only-mmap-target-page-size-regions-reverse.patch").read_text()
    huge = ("From 1 Mon Sep 17 00:00:00 2001\nFrom: B <b@example.org>\nSubject: [PATCH] y\n\n"
            + ("x" * 1000 + "\n") * 70_000)
    mbox = tmp_path / "series.mbox"
    mbox.write_text(huge + seed)
    code, found, errors, _ = run(str(mbox))
    assert code == 2
    assert found == [("VFIO002", "introduced", "hw/misc/vfio.c", 2577)]
    assert errors == [f"{mbox}: skipped: too large (66.8 MiB, limit 64 MiB)"]


def test_time_budget_skips_the_slow_input_only(tmp_path: Path) -> None:
    deep = tmp_path / "deep.c"
    deep.write_text("int h(struct vfio_region_info *reg)\n{\n    unsigned int x = "
                    + "(" * 400_000 + "reg->offset" + ")" * 400_000 + ";\n    return x;\n}\n")
    code, found, errors, _ = run("--timeout", "0.1", str(deep), SEED)
    assert code == 2 and found == [SEED_FINDING]
    assert errors == [f"{deep}: skipped: too slow (over 0.1 s)"]


def test_resent_messages_are_read_once(tmp_path: Path) -> None:
    seed = (ROOT / "corpus/qemu/2017-only-mmap-target-page-size-regions-reverse.patch").read_text()
    mbox = tmp_path / "resent.mbox"
    mbox.write_text("".join(seed.replace("Subject:", f"Message-ID: <{i}@x>\nSubject:", 1)
                            for i in range(200)))
    code, found, errors, _ = run(str(mbox))
    assert (code, found, errors) == (1, [("VFIO002", "introduced", "hw/misc/vfio.c", 2577)], [])


def test_coverage_tells_no_finding_from_could_not_look(tmp_path: Path) -> None:
    broken = tmp_path / "broken.patch"
    broken.write_text(
        "From 0 Mon Sep 17 00:00:00 2001\nFrom: A <a@example.org>\nSubject: [PATCH] vfio: x\n\n"
        "---\ndiff --git a/hw/vfio/x.c b/hw/vfio/x.c\n--- a/hw/vfio/x.c\n+++ b/hw/vfio/x.c\n"
        "@@ -10,3 +10,4 @@ static int map(VFIORegion *region)\n"
        "     int ret;\n"
        "+    if (region->flags & VFIO_REGION_INFO_FLAG_MMAP ]] {{ mmap(\n"
        "     ret = 0;\n     return ret;\n")
    proc = run_cli("check", "--format", "json", str(broken), SEED)
    doc = json.loads(proc.stdout)
    by_input = {c["input"]: c for c in doc["coverage"]}
    mine, seed = by_input[str(broken)], by_input[SEED]
    assert (mine["c_files"], mine["hunks"], mine["clean"]) == (1, 1, False)
    assert mine["detail"][0]["pre"]["error_nodes"] == 0
    assert mine["detail"][0]["post"]["error_nodes"] > 0
    assert mine["detail"][0]["post"]["error_lines"] == [11, 12]  # the next line is caught too
    # the header hunk of vfio_pci_private.h holds no rule keyword: nothing there to parse
    assert (seed["c_files"], seed["hunks"], seed["images_parsed"], seed["clean"]) == (3, 4, 4, True)
