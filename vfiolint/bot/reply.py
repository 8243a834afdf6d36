"""What a checked series produces: the review replies (plain text, in the ``email`` format's
style) and the check record a script can post to patchwork.

A reply goes to the author of what it answers (the cover letter, else the first patch; or each
patch with findings when replies are per patch), Cc the list only when configured, threaded
with In-Reply-To and References, and carries a Message-ID chosen here, before anything is sent.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import formatdate, getaddresses, make_msgid, parseaddr

from vfiolint import __version__
from vfiolint.bot.check import BASE_COMMIT_NOTE, SeriesCheck
from vfiolint.bot.settings import Settings
from vfiolint.bot.state import Message, Series
from vfiolint.findings import Finding, Severity, Status
from vfiolint.model import Patch
from vfiolint.report.console import series_summary
from vfiolint.report.email_reply import WIDTH, reply_body, shell_lines
from vfiolint.report.json_doc import coverage_object, finding_object

CONTEXT = "vfiolint"
# Headers unfolded up to RFC 5322's hard limit: the default folding breaks a long Subject
# right after "Subject:", which some clients show with a leading space.
POLICY = default_policy.clone(max_line_length=998)
RECORD_VERSION = "1.0.0"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A reply ready to send: its Message-ID (no brackets), envelope and bytes."""

    message_id: str
    in_reply_to: str | None
    sender: str
    recipients: tuple[str, ...]
    raw: bytes


@dataclass(frozen=True, slots=True)
class Verdict:
    """A checked series with everything its reply and record tell."""

    series: Series
    messages: tuple[Message, ...]
    check: SeriesCheck
    missing: tuple[int, ...]
    previous: Series | None = None
    previous_findings: tuple[dict[str, object], ...] = ()

    @property
    def head(self) -> Message:
        """Return the message a series reply answers: the cover letter, else the first patch."""
        return self.messages[0]

    @property
    def findings(self) -> list[Finding]:
        """Return the kept findings of the series."""
        return self.check.outcome.findings if self.check.outcome is not None else []

    @property
    def patches(self) -> dict[tuple[str, int], Patch]:
        """Return the patches the analysis read, by input and index."""
        return self.check.outcome.patches if self.check.outcome is not None else {}


def objections(findings: list[Finding]) -> list[Finding]:
    """Return what a reply objects to: unwaived findings that are not fixes."""
    return [f for f in findings if f.waiver is None and f.status is not Status.FIXED]


def check_state(findings: list[Finding]) -> str:
    """Map findings to a patchwork check state: fail, warning or success."""
    objected = objections(findings)
    if any(f.status is Status.INTRODUCED and f.severity is Severity.ERROR for f in objected):
        return "fail"
    return "warning" if objected else "success"


def describe(findings: list[Finding]) -> str:
    """Say in one line what was found."""
    parts = []
    for status, verb in ((Status.INTRODUCED, "introduced"), (Status.PRESENT, "left present"),
                         (Status.FIXED, "fixed")):
        rules = sorted({f.rule for f in findings if f.status is status and f.waiver is None})
        count = sum(1 for f in findings if f.status is status and f.waiver is None)
        if count:
            parts.append(f"{count} {verb} ({', '.join(rules)})")
    return "VFIO hazards: " + "; ".join(parts) if parts else "no VFIO hazard found"


def _position(message: Message) -> str:
    """Name a message's place in its series."""
    return f"{message.counter}/{message.expected}"


def _scope(v: Verdict, wait: float) -> str:
    """Say what was looked at: how many patches, which were missing, on what."""
    received = [m for m in v.messages if m.counter]
    what = (f"the {len(received)} patches of this series" if len(received) > 1
            else "this patch")
    if v.missing:
        hours = f"{wait / 3600:g} h" if wait >= 3600 else f"{wait / 60:g} min"
        gone = ", ".join(f"{c}/{v.series.expected}" for c in v.missing)
        what = (f"{len(received)} of the {v.series.expected} patches of this series "
                f"({gone} had not arrived {hours} after the first)")
    tree = v.check.tree
    on = "on the patch hunks alone"
    if tree.mode == "tree" and tree.base:
        on = (f"against its base-commit {tree.base[:12]}" if tree.note == BASE_COMMIT_NOTE
              else f"against {tree.branch} at {tree.base[:12]}")
    return f"vfiolint looked at {what} for known VFIO hazards, {on}"


def _summary(v: Verdict) -> list[str]:
    """Return the per-rule lines of a series ("VFIO003 introduced in 2/5, fixed in 4/5")."""
    lines = [x.removeprefix(f"Series {v.check.name}: ")
             for x in series_summary(v.findings, v.patches)]
    parts = [part for x in lines for part in x.split("; ")]
    if not parts:
        parts = list(dict.fromkeys(f"{f.rule} {f.status.value}" for f in v.findings))
    return [f"  {part}" for part in parts]


def _since_previous(v: Verdict) -> list[str]:
    """Compare the findings with the previous revision's, by fingerprint."""
    if v.previous is None:
        return []
    def keys(items: list[tuple[str, str, str]]) -> set[tuple[str, str]]:
        return {(rule, key) for rule, key, status in items if status != "fixed"}
    before = keys([(str(f["rule"]), str(f["fingerprint"]), str(f["status"]))
                   for f in v.previous_findings if f.get("waived") is None])
    now = keys([(f.rule, f.fingerprint, f.status.value) for f in v.findings if f.waiver is None])
    gone = sorted({rule for rule, _ in before - now})
    new = sorted({rule for rule, _ in now - before})
    head = f"Compared with v{v.previous.revision}"
    if not before and not now:
        return []
    text = (f"{head}: {len(before - now)} finding(s) gone"
            + (f" ({', '.join(gone)})" if gone else "")
            + f", {len(now - before)} new" + (f" ({', '.join(new)})" if new else "") + ".")
    return textwrap.wrap(text, WIDTH)


def _signature(v: Verdict) -> list[str]:
    """Return the signature with the command that reproduces the check."""
    fetch = shell_lines(["b4", "am", "-o", "-", "-v", str(v.series.revision),
                         v.head.msgid or ""])
    return ["-- ", f"vfiolint {__version__}", "Reproduce with:", f"{fetch} |",
            "    vfiolint check -"]


def _patch_sections(v: Verdict, only: int | None = None) -> list[str]:
    """Quote each patch with something to object to, findings below the quoted lines."""
    body: list[str] = []
    by_patch: dict[int, list[Finding]] = {}
    for f in v.findings:
        if f.patch is not None and f.waiver is None:
            by_patch.setdefault(f.patch.index, []).append(f)
    for index, items in by_patch.items():
        if only is not None and index != only:
            continue
        patch = v.patches.get((items[0].input, index))
        if patch is None or not objections(items):
            continue
        body += [patch.subject or patch.label, "", *reply_body(patch, items)]
    return body


def _tidy(lines: list[str]) -> list[str]:
    """Collapse runs of blank lines to one (the signature's ``-- `` line is not blank)."""
    out: list[str] = []
    for line in lines:
        if line == "" and out and out[-1] == "":
            continue
        out.append(line)
    return out


def _mail(settings: Settings, v: Verdict, to: Message, body: list[str], now: float
          ) -> Outgoing | None:
    """Build one reply to a message; None when it has nobody to go to."""
    reply = settings.reply
    recipients = [a for _, a in getaddresses([to.author or ""]) if "@" in a]
    cc = list(reply.cc) + ([settings.list_address] if reply.cc_list and settings.list_address
                           else [])
    if not recipients and not cc:
        return None
    msg = EmailMessage(policy=POLICY)
    message_id = make_msgid("vfiolint", domain=reply.domain)
    msg["From"] = reply.sender
    if to.author:
        msg["To"] = to.author
    if cc:
        msg["Cc"] = ", ".join(cc)
    subject = to.subject or "your patch"
    msg["Subject"] = subject if subject.lower().startswith("re:") else f"Re: {subject}"
    msg["Date"] = formatdate(now, usegmt=True)
    msg["Message-ID"] = message_id
    if to.msgid:
        msg["In-Reply-To"] = f"<{to.msgid}>"
        msg["References"] = " ".join(f"<{r}>" for r in (*to.refs, to.msgid))
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Mailer"] = f"vfiolint {__version__}"
    text = "\n".join(_tidy(body)).rstrip() + "\n"
    msg.set_content(text, charset="utf-8", cte="8bit" if not text.isascii() else "7bit")
    envelope = [*recipients, *(a for _, a in getaddresses(cc) if "@" in a)]
    return Outgoing(message_id.strip("<>"), to.msgid, parseaddr(reply.sender)[1],
                    tuple(dict.fromkeys(envelope)), msg.as_bytes())


def compose(settings: Settings, v: Verdict, now: float) -> list[Outgoing]:
    """Return the replies a checked series calls for (none for a clean series unless
    configured)."""
    objected = objections(v.findings)
    intro = textwrap.wrap(_scope(v, settings.wait) + (
        ", and found:" if objected else ", and found none introduced or left present."), WIDTH)
    since = _since_previous(v)
    tail = [*(["", *since] if since else []), "", *_signature(v)]
    if not objected:
        if not settings.reply.clean:
            return []
        summary = _summary(v) if v.findings else []
        one = _mail(settings, v, v.head, [*intro, *(["", *summary] if summary else []), *tail],
                    now)
        return [one] if one else []
    if settings.reply.per == "series":
        body = [*intro, "", *_summary(v), "", *_patch_sections(v), *tail]
        one = _mail(settings, v, v.head, body, now)
        return [one] if one else []
    out = []
    for (_, index), patch in sorted(v.patches.items(), key=lambda kv: kv[0][1]):
        sections = _patch_sections(v, index)
        target = next((m for m in v.messages if m.msgid and m.msgid == patch.msgid), None)
        if sections and target is not None:
            mail = _mail(settings, v, target, [*intro, "", *sections, *tail], now)
            if mail is not None:
                out.append(mail)
    return out


def _check(state: str, description: str, url: str | None) -> dict[str, object]:
    """Return the patchwork check fields."""
    return {"state": state, "context": CONTEXT, "description": description, "target_url": url}


def _url(settings: Settings, msgid: str | None, reply: str | None, series: int) -> str | None:
    """Fill the configured target URL."""
    template = settings.reply.target_url
    if template is None:
        return None
    return template.format(msgid=msgid or "", reply_msgid=reply or "", series=series)


def record(settings: Settings, v: Verdict, replies: list[Outgoing]) -> dict[str, object]:
    """Return the check record of a series: the patchwork fields for the series and for each
    patch, the findings as ``--format json`` writes them, and the replies' Message-IDs."""
    first_reply = replies[0].message_id if replies else None
    outcome = v.check.outcome
    per_patch = []
    for message in v.messages:
        if not message.counter:
            continue
        found = [f for f in v.findings if f.patch is not None
                 and f.patch.message_id == message.msgid]
        per_patch.append({
            "counter": message.counter, "message_id": message.msgid,
            "subject": message.subject,
            "check": _check(check_state(found), describe(found),
                            _url(settings, message.msgid, first_reply, v.series.id)),
        })
    description = describe(v.findings)
    if v.missing:
        description += f" (partial: {', '.join(str(c) for c in v.missing)} of " \
                       f"{v.series.expected} missing)"
    tree = v.check.tree
    return {
        "version": RECORD_VERSION,
        "tool": {"name": "vfiolint", "version": __version__},
        "list": settings.list_name,
        "series": {
            "id": v.series.id, "revision": v.series.revision, "subject": v.head.subject,
            "message_id": v.head.msgid, "cover_letter": v.head.counter == 0,
            "expected": v.series.expected,
            "received": [m.counter for m in v.messages if m.counter],
            "missing": list(v.missing), "partial": bool(v.missing),
            "previous": None if v.previous is None else {
                "id": v.previous.id, "revision": v.previous.revision,
                "subject": v.previous.subject},
        },
        "tree": {"repo": tree.repo, "branch": tree.branch, "base": tree.base,
                 "mode": tree.mode, "note": tree.note},
        "check": _check(check_state(v.findings), description,
                        _url(settings, v.head.msgid, first_reply, v.series.id)),
        "patches": per_patch,
        "findings": [finding_object(f) for f in v.findings],
        "errors": [{"input": name, "message": message}
                   for name, message in (outcome.errors if outcome else [])],
        "coverage": [coverage_object(c) for c in (outcome.coverage if outcome else [])],
        "replies": [r.message_id for r in replies],
    }
