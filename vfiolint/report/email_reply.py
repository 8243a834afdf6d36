"""A plain-text review reply a bot can send as is: interleaved quotes, 72 columns, no colour.

One mail per patch with findings, in mbox form so a series' replies can be concatenated: the
offending hunk lines quoted with ``> `` and each finding right below them.
"""

from __future__ import annotations

import textwrap
from itertools import groupby
from string import Template
from typing import TextIO

from vfiolint import __version__
from vfiolint.findings import Finding, Status
from vfiolint.model import Hunk, LineKind, Patch
from vfiolint.report import Report

WIDTH = 72
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
    tail = f" See 'vfiolint explain {f.rule}' for why and what to write instead."
    return textwrap.wrap(text + where + tail, WIDTH)


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


def reply_body(patch: Patch, findings: list[Finding]) -> list[str]:
    """Write the body of a reply to one patch: the attribution line, then each finding's
    quoted lines with the comment below them."""
    body: list[str] = []
    if patch.author and patch.date and patch.quote_depth == 0:  # a quote's author is unknown
        body += [*textwrap.wrap(f"On {patch.date}, {patch.author} wrote:", WIDTH), ""]
    for f in findings:
        body += [*quote(patch, f), "", *comment(f), ""]
    return body


def mail(patch: Patch, findings: list[Finding], command: list[str]) -> str:
    """Render the reply to one patch."""
    subject = (patch.subject or patch.label).removeprefix("Re: ")
    headers = [f"Subject: Re: {subject}"]
    if patch.msgid:
        headers += [f"In-Reply-To: <{patch.msgid}>", f"References: <{patch.msgid}>"]
    body = reply_body(patch, findings)
    return MAIL.substitute(headers="\n".join(headers), body="\n".join(body).rstrip() + "\n",
                           version=__version__, command=shell_lines(command))


def render(findings: list[Finding], patches: dict[tuple[str, int], Patch],
           command: list[str]) -> str:
    """Render one reply per patch with something to object to (a fix alone gets no mail);
    source-file findings have no mail. ``command`` is the command line without inputs."""
    out = []
    keyed = [f for f in findings if f.patch is not None and f.waiver is None]
    for key, group in groupby(keyed, key=lambda f: (f.input, f.patch.index if f.patch else -1)):
        patch = patches.get(key)
        items = list(group)
        if patch is not None and any(f.status is not Status.FIXED for f in items):
            target = [] if patch.commit else [patch.input]
            out.append(mail(patch, items, [*command, *target]))
    return "\n".join(out)


def write(report: Report, out: TextIO, color: bool = False) -> None:
    """Write the review replies, one mail per patch with something to object to."""
    out.write(render(report.findings, report.patches, report.command))
