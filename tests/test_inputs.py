"""Input shapes, read through the whole pipeline: mail encodings, mboxes, quotes, mangled diffs,
stdin, directories, C files, and inputs that are not patches at all.

Every input carries the same small hazard: a QEMU-style region setup that mmaps on
``VFIO_REGION_INFO_FLAG_MMAP`` without a page-size check, which VFIO002 reports. Each test
asserts the exact rule, status, path and line it expects.
"""

from __future__ import annotations

import email.policy
import json
import mailbox
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.conftest import findings_of, run_cli
from vfiolint.findings import Finding
from vfiolint.inputs import load
from vfiolint.rules.loader import Rule

# The ``if (info->flags & VFIO_REGION_INFO_FLAG_MMAP) { … mmap(`` line of the post-image: the
# mapping, gated by the flag, with a length rounded up past the region's end.
HAZARD_LINE = 19


def diff_of(n: int) -> str:
    """Return the diff of patch ``n``: it adds an unchecked mmap to hw/vfio/part<n>.c."""
    return f"""\
diff --git a/hw/vfio/part{n}.c b/hw/vfio/part{n}.c
index 0fd099d..2db2a94 100644
--- a/hw/vfio/part{n}.c
+++ b/hw/vfio/part{n}.c
@@ -16,5 +16,10 @@ static int vfio_part{n}_setup(VFIORegion *region, struct vfio_region_info *info,
     region->size = info->size;
     region->fd_offset = info->offset;
 
+    if (info->flags & VFIO_REGION_INFO_FLAG_MMAP) {{ region->mmap = mmap(NULL,
+                            PAGE_ALIGN(info->size), PROT_READ | PROT_WRITE,
+                            MAP_SHARED, fd, info->offset);
+    }}
+
     return 0;
 }}
"""


def body_of(n: int, signer: str = "A U Thor <author@example.org>") -> str:
    """Return the body of patch ``n`` as ``git format-patch`` writes it."""
    return f"""\
Map region {n} directly instead of trapping every access.

Signed-off-by: {signer}
---
 hw/vfio/part{n}.c | 5 +++++
 1 file changed, 5 insertions(+)

{diff_of(n)}--\x20
2.39.5
"""


def subject_of(n: int, prefix: str = "PATCH") -> str:
    return f"[{prefix}] vfio/part{n}: Map the region when the kernel allows it"


def format_patch(n: int, prefix: str = "PATCH") -> str:
    """Return patch ``n`` as one ``git format-patch`` file."""
    return (
        "From 1644fbd487a6c78f3a9b2661f7d159c97e86a36c Mon Sep 17 00:00:00 2001\n"
        "From: A U Thor <author@example.org>\n"
        f"Date: Fri, 20 Nov 2026 10:0{n}:00 +0000\n"
        f"Subject: {subject_of(n, prefix)}\n"
        "\n" + body_of(n)
    )


def message(subject: str, msgid: str, **headers: str) -> EmailMessage:
    """Return a message with the usual headers and no body yet."""
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = "A U Thor <author@example.org>"
    msg["To"] = "qemu-devel@nongnu.org"
    msg["Date"] = "Fri, 20 Nov 2026 10:00:00 +0000"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{msgid}@example.org>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    return msg


def expected(n: int, status: str = "introduced") -> tuple[str, str, str, int]:
    return ("VFIO002", status, f"hw/vfio/part{n}.c", HAZARD_LINE)


def shape(findings: list[Finding]) -> list[tuple[str, str, str, int]]:
    return [(f.rule, f.status.value, f.path, f.line) for f in findings]


def quoted(text: str, mark: str) -> str:
    """Quote every line of ``text`` with ``mark``, as a mail client does (blank lines too)."""
    return "".join(f"{mark}{line}".rstrip(" ") + "\n" if not line.strip() else f"{mark}{line}\n"
                   for line in text.splitlines())


def json_of(proc) -> dict:
    return json.loads(proc.stdout.decode("utf-8"))


def json_shape(doc: dict) -> list[tuple[str, str, str, int]]:
    return [(f["rule"], f["status"], f["path"], f["line"]) for f in doc["findings"]]


# --- plain patches and series -----------------------------------------------------------------


def test_format_patch_file(rules: list[Rule]) -> None:
    findings, errors = findings_of("0001-part1.patch", format_patch(1).encode(), rules)
    assert errors == []
    assert shape(findings) == [expected(1)]
    assert findings[0].function == "vfio_part1_setup"
    assert findings[0].patch is not None
    assert findings[0].patch.subject == subject_of(1)


def series_mbox(tmp_path: Path) -> Path:
    """Write an mbox: cover letter, patches 1-3 of v2, and a review quoting patch 2."""
    box_path = tmp_path / "series.mbox"
    box = mailbox.mbox(box_path)
    cover = message("[PATCH v2 0/3] vfio: Map regions directly", "cover")
    cover.set_content(
        "This series maps VFIO regions directly when the kernel allows it.\n\n"
        "v2: rebased.\n\n"
        "A U Thor (3):\n"
        "  vfio/part1: Map the region when the kernel allows it\n"
        "  vfio/part2: Map the region when the kernel allows it\n"
        "  vfio/part3: Map the region when the kernel allows it\n\n"
        " hw/vfio/part1.c | 5 +++++\n hw/vfio/part2.c | 5 +++++\n hw/vfio/part3.c | 5 +++++\n"
        " 3 files changed, 15 insertions(+)\n"
    )
    box.add(cover)
    for n in (1, 2, 3):
        msg = message(subject_of(n, f"PATCH v2 {n}/3"), f"patch{n}",
                      In_Reply_To="<cover@example.org>")
        msg.set_content(body_of(n))
        box.add(msg)
    reply = message(f"Re: {subject_of(2, 'PATCH v2 2/3')}", "review2",
                    In_Reply_To="<patch2@example.org>")
    reply.set_content(
        "On Fri, 20 Nov 2026 10:02:00 +0000, A U Thor wrote:\n"
        + quoted(body_of(2), "> ")
        + "\nThis needs a page-size check before the mmap.\n"
    )
    box.add(reply)
    box.flush()
    box.close()
    return box_path


def test_mbox_series_findings_per_patch_in_order(tmp_path: Path, rules: list[Rule]) -> None:
    path = series_mbox(tmp_path)
    findings, errors = findings_of(path.name, path.read_bytes(), rules)
    assert errors == []
    # one finding per patch, in series order; the review quoting patch 2 adds nothing
    assert shape(findings) == [expected(1), expected(2), expected(3)]
    assert [f.patch.index for f in findings if f.patch] == [0, 1, 2]
    assert [f.patch.subject for f in findings if f.patch] == [
        subject_of(n, f"PATCH v2 {n}/3") for n in (1, 2, 3)
    ]
    assert [f.patch.message_id for f in findings if f.patch] == [
        f"patch{n}@example.org" for n in (1, 2, 3)
    ]


def test_mbox_series_subjects_parsed(tmp_path: Path) -> None:
    path = series_mbox(tmp_path)
    loaded = load(path.name, path.read_bytes())
    assert loaded.errors == ()
    got = [(p.revision, p.revision_inferred, p.counter, p.expected, p.prefixes, p.quote_depth)
           for p in loaded.patches]
    assert got == [(2, False, n, 3, ("PATCH",), 0) for n in (1, 2, 3)]
    assert [p.trailers[0].value for p in loaded.patches] == ["A U Thor <author@example.org>"] * 3


# --- transfer encodings, attachments, charsets ----------------------------------------------------


def test_quoted_printable_body(rules: list[Rule]) -> None:
    msg = message(subject_of(1), "qp")
    msg.set_content(body_of(1), cte="quoted-printable")
    raw = msg.as_bytes()
    assert b"Content-Transfer-Encoding: quoted-printable" in raw
    assert b"=3D" in raw  # the diff's '=' really went through the encoding
    findings, errors = findings_of("qp.eml", raw, rules)
    assert errors == []
    assert shape(findings) == [expected(1)]


def test_base64_body(rules: list[Rule]) -> None:
    msg = message(subject_of(1), "b64")
    msg.set_content(body_of(1), cte="base64")
    raw = msg.as_bytes()
    assert b"Content-Transfer-Encoding: base64" in raw
    assert b"VFIO_REGION_INFO_FLAG_MMAP" not in raw
    findings, errors = findings_of("b64.eml", raw, rules)
    assert errors == []
    assert shape(findings) == [expected(1)]


def test_patch_as_text_x_patch_attachment(rules: list[Rule]) -> None:
    msg = message(subject_of(1), "attach")
    msg.set_content("Please find the patch attached.\n\nThanks,\nA U Thor\n")
    msg.add_attachment(format_patch(1).encode(), maintype="text", subtype="x-patch",
                       filename="0001-vfio-part1-Map-the-region.patch")
    raw = msg.as_bytes()
    assert b"multipart/mixed" in raw and b"text/x-patch" in raw
    findings, errors = findings_of("attach.eml", raw, rules)
    assert errors == []
    assert shape(findings) == [expected(1)]


@pytest.mark.parametrize("cte", ["8bit", "quoted-printable"])
def test_iso_8859_1_body(cte: str, rules: list[Rule]) -> None:
    msg = message(subject_of(1), "latin1")
    body = body_of(1, signer="J\u00f6rg M\u00fcller <jorg@example.org>").replace(
        "+    if (info->flags", "+    /* r\u00e9gion mapp\u00e9e */\n+    if (info->flags")
    body = body.replace("@@ -16,5 +16,10 @@", "@@ -16,5 +16,11 @@")
    msg.set_content(body, charset="iso-8859-1", cte=cte)
    raw = msg.as_bytes()
    assert b"charset=\"iso-8859-1\"" in raw
    if cte == "8bit":
        assert "r\u00e9gion".encode("latin-1") in raw  # raw Latin-1 bytes, not valid UTF-8
    findings, errors = findings_of("latin1.eml", raw, rules)
    assert errors == []
    assert shape(findings) == [("VFIO002", "introduced", "hw/vfio/part1.c", HAZARD_LINE + 1)]
    patch = load("latin1.eml", raw).patches[0]
    assert patch.trailers[0].value == "J\u00f6rg M\u00fcller <jorg@example.org>"
    added = [x.text for x in patch.files[0].hunks[0].lines if x.kind.value == "+"]
    assert added[0] == "    /* r\u00e9gion mapp\u00e9e */"


def test_eml_file_through_cli(tmp_path: Path) -> None:
    msg = message(subject_of(1), "eml")
    msg.set_content(body_of(1))
    path = tmp_path / "part1.eml"
    path.write_bytes(msg.as_bytes())
    proc = run_cli("check", "--format", "json", str(path))
    assert proc.returncode == 1, proc.stderr
    doc = json_of(proc)
    assert doc["errors"] == []
    assert json_shape(doc) == [expected(1)]
    assert doc["findings"][0]["input"] == str(path)
    assert doc["findings"][0]["patch"]["message_id"] == "eml@example.org"


# --- quoted patches ------------------------------------------------------------------------------


def reply_quoting(mark: str) -> bytes:
    msg = message(f"Re: {subject_of(1)}", f"reply-{len(mark)}")
    msg.set_content(
        "On Fri, 20 Nov 2026 10:01:00 +0000, A U Thor wrote:\n"
        + quoted(body_of(1), mark)
        + "\nThe region may be smaller than a page here.\n"
    )
    return msg.as_bytes()


def test_patch_quoted_once(rules: list[Rule]) -> None:
    findings, errors = findings_of("reply.eml", reply_quoting("> "), rules)
    assert errors == []
    assert shape(findings) == [expected(1)]
    assert load("reply.eml", reply_quoting("> ")).patches[0].quote_depth == 1


def test_patch_quoted_twice(rules: list[Rule]) -> None:
    findings, errors = findings_of("reply.eml", reply_quoting(">> "), rules)
    assert errors == []
    assert shape(findings) == [expected(1)]
    assert load("reply.eml", reply_quoting(">> ")).patches[0].quote_depth == 2


def test_patch_quoted_twice_spaced(rules: list[Rule]) -> None:
    findings, errors = findings_of("reply.eml", reply_quoting("> > "), rules)
    assert errors == []
    assert shape(findings) == [expected(1)]
    assert load("reply.eml", reply_quoting("> > ")).patches[0].quote_depth == 2


# --- mangled diffs -------------------------------------------------------------------------------


def test_wrapped_diff_git_and_hunk_lines(rules: list[Rule]) -> None:
    text = format_patch(1)
    text = text.replace("diff --git a/hw/vfio/part1.c b/hw/vfio/part1.c",
                        "diff --git a/hw/vfio/part1.c\nb/hw/vfio/part1.c")
    text = text.replace("(VFIORegion *region, struct vfio_region_info *info,",
                        "(VFIORegion *region,\nstruct vfio_region_info *info,")
    assert "\nb/hw/vfio/part1.c\n" in text and "\nstruct vfio_region_info *info,\n" in text
    findings, errors = findings_of("wrapped.patch", text.encode(), rules)
    assert errors == []
    assert shape(findings) == [expected(1)]
    hunk = load("wrapped.patch", text.encode()).patches[0].files[0].hunks[0]
    assert hunk.section == ("static int vfio_part1_setup(VFIORegion *region, "
                            "struct vfio_region_info *info,")


def test_context_lines_lost_leading_whitespace(rules: list[Rule]) -> None:
    lines = []
    in_hunk = False
    for line in format_patch(1).splitlines():
        if line.startswith("@@"):
            in_hunk = True
        elif in_hunk and line.startswith(" "):
            line = line.lstrip()  # the mail client ate the diff's space and the indentation
        elif line.startswith("-- "):
            in_hunk = False
        lines.append(line)
    text = "\n".join(lines) + "\n"
    assert "\nregion->size = info->size;\n" in text
    findings, errors = findings_of("stripped.patch", text.encode(), rules)
    assert errors == []
    assert shape(findings) == [expected(1)]


# --- command line: stdin, directories, C files, non-patches, errors ---------------------------------


def test_stdin() -> None:
    proc = run_cli("check", "--format", "json", "-", stdin=format_patch(1).encode())
    assert proc.returncode == 1, proc.stderr
    doc = json_of(proc)
    assert doc["errors"] == []
    assert json_shape(doc) == [expected(1)]
    assert doc["findings"][0]["input"] == "-"


C_SOURCE = """\
/*
 * VFIO region helpers
 */

#include "qemu/osdep.h"
#include <linux/vfio.h>
#include <sys/mman.h>

static void vfio_map_one(VFIORegion *region, struct vfio_region_info *info, int fd)
{
    if (info->flags & VFIO_REGION_INFO_FLAG_MMAP) { region->mmap = mmap(NULL,
                            PAGE_ALIGN(info->size), PROT_READ | PROT_WRITE,
                            MAP_SHARED, fd, info->offset);
    }
}

static void vfio_map_two(VFIORegion *region, struct vfio_region_info *info, int fd)
{
    if (VFIO_REGION_INFO_FLAG_MMAP & info->flags) { region->mmap = mmap(NULL,
                            PAGE_ALIGN(info->size), PROT_READ, MAP_SHARED, fd, info->offset);
    }
}
"""


def test_c_source_file_all_present(tmp_path: Path) -> None:
    path = tmp_path / "hw" / "vfio" / "region-helpers.c"
    path.parent.mkdir(parents=True)
    path.write_text(C_SOURCE)
    proc = run_cli("check", "--format", "json", str(path))
    assert proc.returncode == 1, proc.stderr
    doc = json_of(proc)
    assert doc["errors"] == []
    assert json_shape(doc) == [("VFIO002", "present", str(path), 11),
                               ("VFIO002", "present", str(path), 19)]
    assert [f["patch"] for f in doc["findings"]] == [None, None]
    assert [f["function"] for f in doc["findings"]] == ["vfio_map_one", "vfio_map_two"]


def test_directory_input(tmp_path: Path) -> None:
    top = tmp_path / "inbox"
    (top / "sub").mkdir(parents=True)
    (top / ".git").mkdir()
    (top / "0001-part1.patch").write_text(format_patch(1))
    msg = message(subject_of(2), "dir-eml")
    msg.set_content(body_of(2))
    (top / "sub" / "part2.eml").write_bytes(msg.as_bytes())
    (top / "sub" / "region-helpers.c").write_text(C_SOURCE)
    (top / ".git" / "0003-part3.patch").write_text(format_patch(3))  # hidden: skipped
    (top / "NOTES").write_text(format_patch(3))  # no known suffix: skipped
    proc = run_cli("check", "--format", "json", str(top))
    assert proc.returncode == 1, proc.stderr
    doc = json_of(proc)
    assert doc["errors"] == []
    got = sorted((f["input"], *t) for f, t in zip(doc["findings"], json_shape(doc), strict=True))
    c_path = str(top / "sub" / "region-helpers.c")
    assert got == sorted([
        (str(top / "0001-part1.patch"), *expected(1)),
        (str(top / "sub" / "part2.eml"), *expected(2)),
        (c_path, "VFIO002", "present", c_path, 11),
        (c_path, "VFIO002", "present", c_path, 19),
    ])


def test_discussion_without_diff(tmp_path: Path) -> None:
    msg = message(f"Re: {subject_of(1)}", "talk")
    msg.set_content(
        "On Fri, 20 Nov 2026 10:01:00 +0000, A U Thor wrote:\n"
        "> Map region 1 directly instead of trapping every access.\n\n"
        "What happens when the region is smaller than a page?  The kernel sets\n"
        "VFIO_REGION_INFO_FLAG_MMAP for sub-page BARs too.\n"
    )
    path = tmp_path / "talk.eml"
    path.write_bytes(msg.as_bytes())
    proc = run_cli("check", "--format", "json", str(path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == b""
    doc = json_of(proc)
    assert doc["errors"] == [] and doc["findings"] == []


def test_binary_and_unreadable_inputs_are_errors_others_reported(tmp_path: Path) -> None:
    good = tmp_path / "0001-part1.patch"
    good.write_text(format_patch(1))
    binary = tmp_path / "blob.patch"
    binary.write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4)
    missing = tmp_path / "missing.patch"
    proc = run_cli("check", "--format", "json", str(binary), str(good), str(missing))
    assert proc.returncode == 2
    stderr = proc.stderr.decode().splitlines()
    assert len(stderr) == 2
    assert stderr[0] == f"vfiolint: {binary}: binary data, not a patch, mail or C source"
    assert stderr[1].startswith(f"vfiolint: {missing}: cannot read: ")
    doc = json_of(proc)
    assert [e["input"] for e in doc["errors"]] == [str(binary), str(missing)]
    assert all("\n" not in e["message"] for e in doc["errors"])
    assert json_shape(doc) == [expected(1)]
    assert doc["findings"][0]["input"] == str(good)


def test_binary_and_unreadable_inputs_console(tmp_path: Path) -> None:
    good = tmp_path / "0001-part1.patch"
    good.write_text(format_patch(1))
    binary = tmp_path / "blob.bin.patch"
    binary.write_bytes(bytes(range(256)))
    missing = tmp_path / "missing.eml"
    proc = run_cli("check", str(missing), str(good), str(binary))
    assert proc.returncode == 2
    stderr = proc.stderr.decode().splitlines()
    assert [x.split(": ")[1] for x in stderr] == [str(missing), str(binary)]
    out = proc.stdout.decode()
    assert f"hw/vfio/part1.c:{HAZARD_LINE}: VFIO002 introduced" in out


def _hunk_patch(section: str, body: str) -> bytes:
    """A one-hunk mail patch to drivers/x.c whose @@ line names ``section``."""
    lines = body.splitlines()
    old = sum(1 for x in lines if not x.startswith("+"))
    new = sum(1 for x in lines if not x.startswith("-"))
    return (f"Subject: [PATCH] x\n\n---\ndiff --git a/drivers/x.c b/drivers/x.c\n"
            f"--- a/drivers/x.c\n+++ b/drivers/x.c\n@@ -80,{old} +80,{new} @@ {section}\n"
            f"{body}").encode()


def test_hunk_inside_a_block_of_a_function_keeps_its_function(rules: list[Rule]) -> None:
    # DPDK style: the @@ section is the line with the name, the return type is above it, and
    # the hunk starts inside an if block of that function.
    body = (" \t\treturn -1;\n \t}\n \n"
            "+\tif (device_info->flags & VFIO_DEVICE_FLAGS_PCI_MSIX_MMAP) {\n"
            "+\t\tvfio_res->msix_table.bar_index = -1;\n+\t}\n \n"
            " \tif (vfio_res->msix_table.bar_index != -1)\n \t\treturn 0;\n")
    found, _ = findings_of("x.patch", _hunk_patch(
        "pci_vfio_setup_msix(struct rte_pci_device *dev,", body), rules)
    assert [(f.rule, f.status.value, f.line, f.function) for f in found] == [
        ("VFIO005", "introduced", 83, "pci_vfio_setup_msix")]


def test_hunk_that_ends_its_function_puts_the_next_one_at_file_scope(
        rules: list[Rule]) -> None:
    body = (" \treturn 0;\n }\n \n+static void *map_bar(int fd, struct vfio_region_info *info)\n"
            "+{\n+\tif (info->flags & VFIO_REGION_INFO_FLAG_MMAP) return mmap(NULL,\n"
            "+\t\t\tPAGE_ALIGN(info->size), PROT_READ, MAP_SHARED, fd, info->offset);\n"
            "+\treturn NULL;\n+}\n")
    found, _ = findings_of("x.patch", _hunk_patch("static int probe(struct dev *dev)", body),
                           rules)
    assert [(f.rule, f.status.value, f.line, f.function) for f in found] == [
        ("VFIO002", "introduced", 85, "map_bar")]


def test_corpus_msix_patch_names_its_function() -> None:
    proc = run_cli("check", "--format", "json", "corpus/dpdk/2026-msix-mmap-device-flag.patch")
    found = json.loads(proc.stdout)["findings"]
    assert [(f["rule"], f["line"], f["function"]) for f in found] == [
        ("VFIO005", 84, "pci_vfio_setup_msix")]


def test_a_directory_with_nothing_to_check_is_an_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "README.md").write_text("# notes\n")
    (notes / "todo.txt").write_text("buy milk\nwalk the dog\n")
    for folder in (empty, notes):
        proc = run_cli("check", str(folder))
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.decode().splitlines() == [
            f"vfiolint: {folder}: no patch, mail or C source in this directory"]
    talk = tmp_path / "talk"
    talk.mkdir()
    msg = message(f"Re: {subject_of(1)}", "talk2")
    msg.set_content("On Fri, 20 Nov 2026 10:01:00 +0000, A U Thor wrote:\n> Map it.\n\nNo.\n")
    (talk / "talk.eml").write_bytes(msg.as_bytes())
    proc = run_cli("check", str(talk))  # a discussion was read: nothing to report, no error
    assert (proc.returncode, proc.stderr) == (0, b"")


def test_a_non_ascii_address_is_kept_as_written() -> None:
    """A header damaged into a non-ASCII address (an archive's replacement character inside
    the angle brackets) is no reason to fail the input."""
    from vfiolint.inputs.mail import addresses

    assert addresses("Alex <alex@shazbot.org>, Andr\ufffd <andr\ufffd@example.org>") == (
        "Alex <alex@shazbot.org>", "Andr\ufffd <andr\ufffd@example.org>")


def test_a_non_ascii_address_is_kept_not_an_internal_error() -> None:
    """email.utils.formataddr() refuses a non-ASCII address (a mangled Cc: line); the header
    is read anyway."""
    from vfiolint.inputs.mail import addresses

    assert addresses("a@example.org, b@example.org /* Andr\\ufffd */") == (
        "a@example.org", "b@example.org/*Andr\\ufffd*/")


def test_sections_parsed_while_repaired_are_what_parsing_their_text_gives(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A repaired section's FileDiff is built as its hunks are repaired, without parsing the
    canonical text again: for every message of the corpus, it equals the parse of that text."""
    from tests.conftest import ROOT
    from vfiolint.inputs import diff, load

    compared = []
    built = diff.file_diffs

    def checked(sections: list[diff.FileSection]) -> tuple[object, ...]:
        found = built(sections)
        text = "".join(s.text for s in sections)
        assert found == diff.with_blobs(diff.parse(text), sections), text[:200]
        compared.append(len(found))
        return found

    monkeypatch.setattr(diff, "file_diffs", checked)
    inputs = [p for p in sorted((ROOT / "corpus").rglob("*"))
              if p.is_file() and p.suffix in {".patch", ".mbox", ".eml", ".html", ".txt"}]
    for path in inputs:
        load(str(path), path.read_bytes())
    assert len(inputs) > 150 and sum(compared) > 200
