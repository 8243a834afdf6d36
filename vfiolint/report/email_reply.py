"""A plain-text review reply a bot can send as is: interleaved quotes, 72 columns, no colour.

One mail per patch with findings, in mbox form so a series' replies can be concatenated: the
offending hunk lines quoted with ``> `` and each finding right below them.
"""

from __future__ import annotations

import re
import textwrap
from email.utils import parseaddr
from itertools import groupby
from pathlib import PurePath
from string import Template
from typing import TextIO

from vfiolint import __version__
from vfiolint.findings import Finding, Status
from vfiolint.model import Hunk, LineKind, Patch
from vfiolint.report import Report, utf8

WIDTH = 72
DEFAULT_SENDER = "vfiolint <vfiolint@localhost>"
ARCHIVE_ADDRESS_RE = re.compile(r"^(.*?)\s*([\w.+-]+) at ([\w-]+(?:\.[\w-]+)+)$")
MAIL = Template("""\
From vfiolint Thu Jan  1 00:00:00 1970
$headers
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

$body
-- 
vfiolint $version
Reproduce with:
$command
""")


def _hunk_of(patch: Patch, f: Finding) -> tuple[str, Hunk] | None:
    """Find the file diff and hunk holding a finding's line."""
    fixed = f.status is Status.FIXED
    for filediff in patch.files:
        if filediff.path != f.path:
            continue
        for hunk in filediff.hunks:
            numbers = [(x.old if fixed else x.new) for x in hunk.lines]
            if f.line in numbers:
                return filediff.path, hunk
    return None


def quote(patch: Patch, f: Finding) -> list[str]:
    """Quote the diff lines of a finding, with two lines of lead-in, as ``> `` lines."""
    found = _hunk_of(patch, f)
    if found is None:
        return [f"> {line:>5} {text}" for line, text in f.snippet]
    path, hunk = found
    fixed = f.status is Status.FIXED
    keep = LineKind.REMOVED if fixed else LineKind.ADDED
    lines = [x for x in hunk.lines if x.kind in (LineKind.CONTEXT, keep)]
    numbers = [(x.old if fixed else x.new) for x in lines]
    first = numbers.index(f.line)
    last = max(i for i, n in enumerate(numbers) if n is not None and n <= f.end_line)
    shown = lines[max(first - 2, 0) : last + 1]
    numbers_of = f"-{hunk.old_start},{hunk.old_len} +{hunk.new_start},{hunk.new_len}"
    head = [f"> diff --git a/{path} b/{path}", f"> @@ {numbers_of} @@ {hunk.section}".rstrip()]
    return head + [f"> {x.kind.value}{x.text}".rstrip() for x in shown]


def comment(f: Finding) -> list[str]:
    """Write the reviewer's comment for a finding, wrapped at 72 columns."""
    text = f"{f.rule} ({f.name}), {f.status.value}: {f.message}."
    where = f" In {f.function}()." if f.function else ""
    path = (" The value goes " + " -> ".join(step.shown() for step in f.flow) + "."
            if len(f.flow) > 1 else "")
    tail = f" See 'vfiolint explain {f.rule}' for why and what to write instead."
    return textwrap.wrap(text + where + path + tail, WIDTH)


def shell_lines(words: list[str]) -> str:
    """Lay a command out in lines of at most 72 columns, joined by backslash continuations."""
    lines = [f"  {words[0]}"]
    for word in words[1:]:
        if len(lines[-1]) + 1 + len(word) + 2 > WIDTH:
            lines[-1] += " \\"
            lines.append(f"    {word}")
        else:
            lines[-1] += f" {word}"
    return "\n".join(lines)


def reproduce(patch: Patch, command: list[str]) -> list[str]:
    """Return the command that reproduces the report on one patch, from anywhere: by commit,
    by Message-ID through b4, or by the patch file's name (never a local path)."""
    if patch.commit:
        return [*command, "--git", patch.commit[:12]]
    if patch.msgid:
        return ["b4", "am", "-o", "-", patch.msgid, "|", *command, "-"]
    if patch.input == "staged":
        return [*command, "--staged"]
    return [*command, PurePath(patch.input).name]


def address(author: str | None) -> str | None:
    """Return an author as a mail address; an archive's ``Name user at host`` is unfolded,
    and anything else without an address gives None."""
    if not author:
        return None
    if "@" in author:
        return author
    m = ARCHIVE_ADDRESS_RE.match(author)
    return f"{m.group(1)} <{m.group(2)}@{m.group(3)}>" if m else None


def headers(patch: Patch, sender: str) -> list[str]:
    """Return the reply's headers: addressed to the patch's author, copied to its recipients,
    threaded under the patch and everything it replied to (the cover letter)."""
    subject = (patch.subject or patch.label).removeprefix("Re: ")
    lines = [f"From: {sender}"]
    author = address(patch.author)
    if author:
        lines.append(f"To: {author}")
    known = {parseaddr(a)[1].lower() for a in (sender, author or "")}
    cc = [a for a in dict.fromkeys(patch.recipients) if parseaddr(a)[1].lower() not in known]
    if cc:
        lines.append(f"Cc: {', '.join(cc)}")
    lines.append(f"Subject: Re: {subject}")
    if patch.msgid:
        chain = dict.fromkeys([*patch.references, patch.msgid])
        lines += [f"In-Reply-To: <{patch.msgid}>",
                  f"References: {' '.join(f'<{m}>' for m in chain)}"]
    if patch.commit:
        lines.append(f"X-Vfiolint-Commit: {patch.commit}")
    return lines


def reply_body(patch: Patch, findings: list[Finding]) -> list[str]:
    """Write the body of a reply to one patch: the attribution line, then each finding's
    quoted lines with the comment below them."""
    body: list[str] = []
    if patch.author and patch.date and patch.quote_depth == 0:  # a quote's author is unknown
        where = f" in commit {patch.commit[:12]}" if patch.commit else ""
        body += [*textwrap.wrap(f"On {patch.date}, {patch.author} wrote{where}:", WIDTH), ""]
    for f in findings:
        body += [*quote(patch, f), "", *comment(f), ""]
    return body


def mail(patch: Patch, findings: list[Finding], command: list[str],
         sender: str = DEFAULT_SENDER) -> str:
    """Render the reply to one patch."""
    body = reply_body(patch, findings)
    return MAIL.substitute(headers="\n".join(headers(patch, sender)),
                           body="\n".join(body).rstrip() + "\n", version=__version__,
                           command=shell_lines(reproduce(patch, command)))


def render(findings: list[Finding], patches: dict[tuple[str, int], Patch],
           command: list[str], sender: str = DEFAULT_SENDER) -> str:
    """Render one reply per patch with something to object to (a fix alone gets no mail);
    source-file findings have no mail. ``command`` is the command line without its inputs."""
    out = []
    keyed = [f for f in findings if f.patch is not None and f.waiver is None]
    for key, group in groupby(keyed, key=lambda f: (f.input, f.patch.index if f.patch else -1)):
        patch = patches.get(key)
        items = list(group)
        if patch is not None and any(f.status is not Status.FIXED for f in items):
            out.append(mail(patch, items, command, sender))
    return utf8("\n".join(out))  # a mail says charset=utf-8


def write(report: Report, out: TextIO, color: bool = False) -> None:
    """Write the review replies, one mail per patch with something to object to."""
    out.write(render(report.findings, report.patches, report.command, report.sender))
