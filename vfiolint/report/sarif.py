"""SARIF 2.1.0 for GitHub code scanning: rules from the rule files, one result per finding."""

from __future__ import annotations

import json
from typing import TextIO

from vfiolint import __version__
from vfiolint.findings import Finding, Status
from vfiolint.report import Report, location
from vfiolint.rules.loader import Rule

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
DESCRIPTION = ("vfiolint reviews VFIO patches for known hazards. Its documentation is docs/ in "
               "its source tree (docs/output.md describes this log); 'vfiolint explain ID' "
               "prints a rule's.")
BASELINE = {Status.INTRODUCED: "new", Status.PRESENT: "unchanged", Status.FIXED: "absent"}


def rule_object(rule: Rule) -> dict[str, object]:
    """Describe a rule as a SARIF reportingDescriptor."""
    return {
        "id": rule.id,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.summary},
        "help": {"text": rule.explain(), "markdown": rule.explain()},
        "defaultConfiguration": {"level": rule.severity.value},
        "properties": {"precision": rule.confidence.value, "tags": ["vfio", *rule.cwe]},
    }


def level(f: Finding) -> str:
    """Return a result's level: a fixed hazard none, one already present in the code a patch
    touches a note (pre-existing: shown, not blamed), any other its rule's severity."""
    if f.status is Status.FIXED:
        return "none"
    if f.status is Status.PRESENT and f.patch is not None:
        return "note"
    return f.severity.value


def home_page() -> str | None:
    """Return the documentation URL the installed package declares, if any: vfiolint has no
    public home, and SARIF's informationUri must be an absolute URI, so none is invented."""
    from importlib.metadata import PackageNotFoundError, metadata

    try:
        urls = metadata("vfiolint").get_all("Project-URL") or []
    except PackageNotFoundError:
        return None
    found = dict(u.split(", ", 1) for u in urls if ", " in u)
    return found.get("Documentation") or found.get("Homepage")


def result_object(f: Finding, index: int) -> dict[str, object] | None:
    """Describe a finding as a SARIF result; a fixed hazard is a ``pass``. None for a range's
    finding whose code is gone at the head it is placed in (``--lines head``)."""
    where = location(f)
    if where is None:
        return None
    path, line, end_line = where
    region: dict[str, int] = {"startLine": line, "endLine": end_line}
    if f.span.column:
        region["startColumn"] = f.span.column
    result: dict[str, object] = {
        "ruleId": f.rule,
        "ruleIndex": index,
        "level": level(f),
        "kind": "fail" if f.status is not Status.FIXED else "pass",
        "message": {"text": f"{f.message} ({f.status.value})"},
        "locations": [{
            "physicalLocation": {
                "artifactLocation": {"uri": path, "uriBaseId": "%SRCROOT%"},
                "region": region,
            },
            **({"logicalLocations": [{"name": f.function, "kind": "function"}]}
               if f.function else {}),
        }],
        "partialFingerprints": {"vfiolint/v1": f.fingerprint},
        "properties": {"status": f.status.value, "confidence": f.confidence.value},
    }
    if len(f.flow) > 1:
        result["codeFlows"] = [{"threadFlows": [{"locations": [
            {"location": {
                "physicalLocation": {
                    "artifactLocation": {"uri": f.path, "uriBaseId": "%SRCROOT%"},
                    "region": {"startLine": step.line, "startColumn": step.column}},
                "message": {"text": f"{step.text} ({step.note}"
                            + (f", {step.type})" if step.type else ")")}}}
            for step in f.flow]}]}]
    if f.waiver is not None:
        result["suppressions"] = [{
            "kind": "inSource" if f.waiver.by == "inline" else "external",
            "justification": f.waiver.reason,
        }]
    if f.patch is not None:
        result["baselineState"] = BASELINE[f.status]
        result["properties"] = {
            **result["properties"],  # type: ignore[dict-item]
            "patch": {"input": f.patch.input, "subject": f.patch.subject,
                      "messageId": f.patch.message_id, "commit": f.patch.commit},
        }
    return result


def render(findings: list[Finding], errors: list[tuple[str, str]], rules: list[Rule]) -> str:
    """Render a SARIF log with one run."""
    index = {r.id: i for i, r in enumerate(rules)}
    run = {
        "tool": {"driver": {
            "name": "vfiolint",
            "version": __version__,
            **({"informationUri": uri} if (uri := home_page()) else {}),
            "fullDescription": {"text": DESCRIPTION},
            "rules": [rule_object(r) for r in rules],
        }},
        "results": [r for f in findings if (r := result_object(f, index.get(f.rule, 0)))],
        "invocations": [{
            "executionSuccessful": not errors,
            "toolExecutionNotifications": [
                {"level": "error", "message": {"text": message},
                 "locations": [{"physicalLocation": {"artifactLocation": {"uri": name}}}]}
                for name, message in errors
            ],
        }],
        "columnKind": "unicodeCodePoints",
    }
    return json.dumps({"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}, indent=2) + "\n"


def write(report: Report, out: TextIO, color: bool = False) -> None:
    """Write the SARIF log."""
    out.write(render(report.findings, report.errors, report.rules))
