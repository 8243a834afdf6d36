"""The ``--format json`` document, with vfiolint's extensions (docs/output.md)."""

from __future__ import annotations

import json
from dataclasses import asdict
from itertools import islice
from typing import TextIO

from vfiolint import __version__
from vfiolint.coverage import Coverage, ImageCoverage
from vfiolint.findings import Finding
from vfiolint.report import Counts, Report

SCHEMA_VERSION = "1.0.0"
PIECES = 4096  # encoded pieces joined for one write (a few tens of KB)


def finding_object(f: Finding) -> dict[str, object]:
    """Return one finding as its JSON object."""
    patch = None
    if f.patch is not None:
        patch = {
            "input": f.patch.input,
            "subject": f.patch.subject,
            "message_id": f.patch.message_id,
            "commit": f.patch.commit,
            "index": f.patch.index,
        }
    return {
        "rule": f.rule,
        "name": f.name,
        "status": f.status.value,
        "severity": f.severity.value,
        "path": f.path,
        "line": f.line,
        "end_line": f.end_line,
        "message": f.message,
        "patch": patch,
        "column": f.span.column,
        "confidence": f.confidence.value,
        "function": f.function,
        "fingerprint": f.fingerprint,
        "input": f.input,
        "waived": {"by": f.waiver.by, "reason": f.waiver.reason} if f.waiver else None,
        "flow": [{"line": s.line, "column": s.column, "text": s.text, "note": s.note,
                  "type": s.type} for s in f.flow],
        "head": None if f.head is None else {
            "commit": f.head.commit, "path": f.head.path, "line": f.head.line,
            "end_line": f.head.end_line},
    }




def _image(cov: ImageCoverage | None) -> dict[str, object] | None:
    """Render one image's coverage."""
    if cov is None:
        return None
    return {"parsed": cov.parsed, "error_nodes": cov.error_nodes,
            "error_lines": list(cov.error_lines)}


def coverage_object(cov: Coverage) -> dict[str, object]:
    """Render a patch's or source file's coverage: every C file, both images.

    ``clean`` is true when every image that needed a look was parsed without ERROR nodes;
    ``parsed: false`` means no rule's keywords occur in the file, so nothing could match."""
    images = [i for f in cov.files for i in (f.pre, f.post) if i is not None]
    return {
        "input": cov.input,
        "patch": None if cov.patch is None else {
            "index": cov.patch.index, "subject": cov.patch.subject,
            "message_id": cov.patch.message_id, "commit": cov.patch.commit},
        "files": cov.total_files,
        "c_files": len(cov.files),
        "hunks": None if any(f.hunks is None for f in cov.files) else sum(
            f.hunks or 0 for f in cov.files),
        "images_parsed": sum(1 for i in images if i.parsed),
        "images_with_errors": sum(1 for i in images if i.error_nodes),
        "clean": all(i.error_nodes == 0 for i in images),
        "detail": [{"path": f.path, "origin": f.origin, "context": f.context,
                    "hunks": f.hunks, "pre": _image(f.pre), "post": _image(f.post),
                    "ambiguous": list(f.ambiguous)} for f in cov.files],
    }


def document(findings: list[Finding], errors: list[tuple[str, str]],
             coverage: list[Coverage] | None = None, counts: Counts | None = None
             ) -> dict[str, object]:
    """Return the JSON document of findings, input errors and coverage, as plain values."""
    return {
        "version": SCHEMA_VERSION,
        "tool": {"name": "vfiolint", "version": __version__},
        "findings": [finding_object(f) for f in findings],
        "errors": [{"input": name, "message": message} for name, message in errors],
        "coverage": [coverage_object(c) for c in sorted(
            coverage or [], key=lambda c: (c.input, c.patch.index if c.patch else -1))],
        "counts": asdict(counts or Counts()),
    }


# ASCII only: valid JSON whatever the terminal's encoding, even for names and paths that are
# not UTF-8 (they arrive as lone surrogates and leave as \udcXX escapes).


def render(findings: list[Finding], errors: list[tuple[str, str]],
           coverage: list[Coverage] | None = None, counts: Counts | None = None) -> str:
    """Render findings, input errors and coverage as the JSON document."""
    return json.dumps(document(findings, errors, coverage, counts), indent=2) + "\n"


def write(report: Report, out: TextIO, color: bool = False) -> None:
    """Write the JSON document as it is encoded, some thousand pieces at a time: the same
    text as ``render`` without holding it whole (a report of a project's whole history is
    tens of MB, and its encoded pieces took several times that before they were joined),
    and without a write for each piece (a range's report has about a hundred thousand)."""
    pieces = json.JSONEncoder(indent=2).iterencode(
        document(report.findings, report.errors, report.coverage, report.counts))
    while text := "".join(islice(pieces, PIECES)):
        out.write(text)
    out.write("\n")
