"""Patches from mail: a format-patch file, an mbox, a saved message, an archive or gitweb page.

Each message is decoded with the standard ``email`` package (quoted-printable, base64, multipart
attachments, other charsets). Its text is split into quote layers (``>``, ``>>``, ``> >``), and
every layer is searched for diffs, so a patch that exists only quoted in a reply is found too.
Archive pages carry junk before the mail (navigation, "Blob Blame History Raw"): the reader
looks for the first header block instead of trusting the first line.
"""

from __future__ import annotations

import contextlib
import email
import logging
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from email.header import decode_header, make_header
from email.message import Message

from vfiolint.errors import InputError
from vfiolint.inputs import diff, stream
from vfiolint.model import FileDiff, LineKind, Patch, Trailer

log = logging.getLogger(__name__)

# One definition of a header line and of an mbox "From " line, for text here and bytes there.
HEADER_RE = re.compile(stream.HEADER_RE.pattern.decode())
MBOX_FROM_RE = re.compile(stream.MBOX_FROM_RE.pattern.decode())
QUOTE_RE = re.compile(r"^(?:> ?)+")
PREFIX_RE = re.compile(r"\[([^\]]*)\]")
COUNTER_RE = re.compile(r"^(\d+)/(\d+)$")
REVISION_RE = re.compile(r"^v(\d+)$", re.IGNORECASE)
TRAILER_RE = re.compile(r"^([A-Z][A-Za-z0-9-]*[a-z][A-Za-z0-9-]*): (.+)$")
PERSON_TRAILERS = {
    "signed-off-by",
    "reviewed-by",
    "acked-by",
    "tested-by",
    "reported-by",
    "suggested-by",
    "co-developed-by",
    "cc",
}
UTILITY_TRAILERS = {"fixes", "link", "closes", "message-id", "change-id", "bugzilla"}
KEY_HEADERS = {"from", "subject", "date", "message-id"}


@dataclass(frozen=True, slots=True)
class Envelope:
    """What a message says about itself, before any diff is looked at."""

    subject: str | None
    msgid: str | None
    author: str | None
    date: str | None
    bodies: tuple[str, ...]
    references: tuple[str, ...] = ()
    recipients: tuple[str, ...] = ()


def decode_text(data: bytes) -> str:
    """Decode an input losslessly: UTF-16 when marked, else UTF-8 with every other byte kept as
    a surrogate, so the mail parser gets the original bytes back and applies each part's own
    charset, and C text keeps its bytes."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    return data.decode("utf-8", errors="surrogateescape")


def _header_block_at(lines: list[str], i: int) -> bool:
    """Tell whether an RFC 822 header block with a From or Subject header starts at line ``i``."""
    names: set[str] = set()
    for line in lines[i : i + 60]:
        if not line.strip():
            break
        m = HEADER_RE.match(line)
        if m:
            names.add(m.group(1).lower())
        elif not (line[:1] in " \t" and names):
            return False
    return len(names & KEY_HEADERS) >= 2 and bool(names & {"from", "subject"})


def find_header_start(lines: list[str]) -> int | None:
    """Return where the mail starts in a saved page, skipping navigation junk; None if no mail."""
    for i, line in enumerate(lines[:200]):
        if MBOX_FROM_RE.match(line) and _header_block_at(lines, i + 1):
            return i
        if HEADER_RE.match(line) and _header_block_at(lines, i):
            return i
    return None


def html_to_text(html: str) -> str:
    """Return the text of an HTML mail part (or archive page), keeping the line breaks of its
    ``<pre>`` blocks: the data between its tags, entities decoded."""
    from html.parser import HTMLParser  # only pages and HTML parts need it

    parts: list[str] = []
    parser = HTMLParser(convert_charrefs=True)
    parser.handle_data = parts.append  # type: ignore[method-assign,assignment]
    parser.feed(html)
    return "".join(parts)


def _part_text(part: Message) -> str:
    """Decode one MIME part's payload with its charset, falling back to Latin-1."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset)
    except (LookupError, UnicodeDecodeError):
        return payload.decode("latin-1")


def _is_patch_attachment(part: Message) -> bool:
    """Tell whether a MIME part is an attached patch rather than prose."""
    ctype = part.get_content_type()
    name = (part.get_filename() or "").lower()
    return ctype in {"text/x-patch", "text/x-diff", "text/x-diff; charset"} or name.endswith(
        (".patch", ".diff")
    )


def message_bodies(msg: Message) -> tuple[str, ...]:
    """Return the decoded texts of a message: plain parts and attached patches, HTML if alone."""
    plain: list[str] = []
    html: list[str] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        if _is_patch_attachment(part) or ctype == "text/plain":
            plain.append(_part_text(part))
        elif ctype == "text/html":
            html.append(html_to_text(_part_text(part)))
        elif ctype.startswith("text/") or part.get_content_maintype() == "application":
            text = _part_text(part)
            if "diff --git" in text or "\n@@ -" in text:
                plain.append(text)
    return tuple(plain or html)


def header_text(value: object) -> str:
    """Decode a header's RFC 2047 words (``=?UTF-8?q?...?=``) and unfold it to one line."""
    text = str(value)
    if "=?" in text:
        with contextlib.suppress(ValueError, LookupError, UnicodeDecodeError):
            text = str(make_header(decode_header(text)))
    return " ".join(text.split())


def _header(msg: Message, name: str) -> str | None:
    """Return a header decoded and unfolded to one line, or None."""
    value = msg.get(name)
    if value is None:
        return None
    return header_text(value)


def clean_msgid(value: str | None) -> str | None:
    """Return the ``<...>`` part of a Message-ID header without brackets."""
    if not value:
        return None
    m = re.search(r"<([^<>\s]+)>", value)
    return m.group(1) if m else value.strip() or None


def envelope_of(chunk: str) -> Envelope:
    """Read a message (or a page holding one) into an Envelope; text without headers is body."""
    lines = chunk.splitlines(keepends=True)
    start = find_header_start(lines)
    if start is None:
        return _page_envelope(chunk)
    raw = "".join(lines[start:])
    # compat32, the parser's default policy: email.policy (and the header registry it
    # imports) is not loaded
    msg = email.message_from_bytes(raw.encode("utf-8", errors="surrogateescape"))
    bodies = message_bodies(msg)
    if not bodies and not msg.is_multipart():
        bodies = (str(msg.get_payload()),)
    return Envelope(
        subject=_header(msg, "Subject"),
        msgid=clean_msgid(_header(msg, "Message-ID")),
        author=_header(msg, "From"),
        date=re.sub(r"\s*\[.*\]\s*$", "", _header(msg, "Date") or "") or None,
        bodies=bodies,
        references=message_ids(_header(msg, "References") or _header(msg, "In-Reply-To")),
        recipients=tuple(a for name in ("To", "Cc") for a in addresses(_header(msg, name))),
    )


def message_ids(value: str | None) -> tuple[str, ...]:
    """Return the ``<...>`` Message-IDs of a References or In-Reply-To header, in order."""
    return tuple(re.findall(r"<([^<>\s]+)>", value or ""))


def addresses(value: str | None) -> tuple[str, ...]:
    """Split an address header into its addresses, each as written (``Name <addr>``)."""
    from email.utils import getaddresses

    return tuple(_address(name, addr) for name, addr in getaddresses([value or ""]) if addr)


def _address(name: str, addr: str) -> str:
    """Write one address as ``Name <addr>`` (a header damaged into a non-ASCII address is
    kept as it was written: formataddr() would raise on it)."""
    from email.utils import formataddr

    try:
        return formataddr((name, addr))
    except UnicodeError:
        return f"{name} <{addr}>" if name else addr


def _page_envelope(text: str) -> Envelope:
    """Guess the metadata of an archive page with no mail headers (pipermail, copied threads)."""
    head = [x.strip() for x in text.splitlines()[:12] if x.strip()]
    subject = author = date = None
    if head and "[" in head[0] and not head[0].startswith(">"):
        subject = head[0]
        if len(head) > 1 and " at " in head[1]:
            author = head[1]
            date = head[2] if len(head) > 2 else None
    return Envelope(subject, None, author, date, (text,))


def quote_layers(text: str) -> dict[int, list[str]]:
    """Split text by quote depth: each depth's lines, in order, with the quote marks removed."""
    lines = [raw.rstrip("\r") for raw in text.splitlines()]
    if lines and not any(line.startswith(">") for line in lines):  # nothing quoted: one layer
        return {0: ["" if not line or line.isspace() else line for line in lines]}
    layers: dict[int, list[str]] = {}
    for line in lines:
        if line[:1] == ">":
            m = QUOTE_RE.match(line)
            assert m is not None
            depth, body = m.group(0).count(">"), line[m.end():]
        else:
            depth, body = 0, line
        layers.setdefault(depth, []).append("" if not body or body.isspace() else body)
    return layers


def parse_subject(subject: str | None) -> tuple[tuple[str, ...], int, bool, int | None, int | None]:
    """Parse ``[RFC PATCH v2 3/5]`` into prefixes, revision, inferred, counter and expected."""
    prefixes: list[str] = []
    counter = expected = None
    revision, inferred = 1, True
    for group in PREFIX_RE.findall(subject or ""):
        words = group.split()
        if not any(w.upper() in {"PATCH", "RFC"} or REVISION_RE.match(w) for w in words):
            continue  # a list tag such as [dpdk-dev]
        for word in words:
            if m := COUNTER_RE.match(word):
                counter, expected = int(m.group(1)), int(m.group(2))
            elif m := REVISION_RE.match(word):
                revision, inferred = int(m.group(1)), False
            else:
                prefixes.append(word)
    return tuple(prefixes), revision, inferred, counter, expected


def parse_trailers(message: str) -> tuple[Trailer, ...]:
    """Return the trailers of a commit message's last paragraph."""
    paragraphs = [p for p in re.split(r"\n\s*\n", message.strip()) if p.strip()]
    if not paragraphs:
        return ()
    trailers = []
    for line in paragraphs[-1].splitlines():
        m = TRAILER_RE.match(line.strip())
        if not m:
            continue
        name = m.group(1)
        key = name.lower()
        kind = (
            "person"
            if key in PERSON_TRAILERS
            else "utility"
            if key in UTILITY_TRAILERS
            else "unknown"
        )
        trailers.append(Trailer(name, m.group(2).strip(), kind))
    return tuple(trailers)


def commit_message(lines: list[str], diff_start: int) -> str:
    """Return the commit message: the text before the diff, cut at the ``---`` separator."""
    head = lines[:diff_start]
    for i in range(len(head) - 1, -1, -1):
        if head[i].rstrip() == "---":
            head = head[:i]
            break
    return "\n".join(head).strip("\n")


BASE_COMMIT_RE = re.compile(r"^base-commit: ([0-9a-f]{7,64})\s*$")


def base_commit(lines: list[str]) -> str | None:
    """Return the ``base-commit:`` a message names (``git format-patch --base``, b4)."""
    if not any(line.startswith("base-commit:") for line in lines):
        return None
    for line in lines:
        m = BASE_COMMIT_RE.match(line)
        if m:
            return m.group(1)
    return None


def group_sections(sections: list[diff.FileSection]) -> list[list[diff.FileSection]]:
    """Group file diffs into patches: a file seen again starts the next patch."""
    groups: list[list[diff.FileSection]] = []
    seen: set[str] = set()
    for section in sections:
        if not groups or section.path in seen:
            groups.append([])
            seen = set()
        groups[-1].append(section)
        seen.add(section.path)
    return groups


def patches_of_message(env: Envelope, input_name: str) -> Iterator[Patch]:
    """Yield every patch found in a message's bodies, at every quote depth."""
    prefixes, revision, inferred, counter, expected = parse_subject(env.subject)
    for body in env.bodies:
        if "@@" not in body and "diff --git" not in body:
            continue  # no hunk and no git file header: a C file, a discussion, a cover letter
        for depth, lines in sorted(quote_layers(body).items()):
            sections = diff.repair(lines)
            base = base_commit(lines) if depth == 0 and "base-commit:" in body else None
            for group in group_sections(sections):
                files = diff.file_diffs(group)
                message = commit_message(lines, group[0].start) if depth == 0 else ""
                yield Patch(
                    input=input_name,
                    index=0,
                    msgid=env.msgid,
                    subject=env.subject,
                    prefixes=prefixes,
                    revision=revision,
                    revision_inferred=inferred,
                    counter=counter,
                    expected=expected,
                    author=env.author,
                    date=env.date,
                    trailers=parse_trailers(message),
                    message=message,
                    files=files,
                    quote_depth=depth,
                    references=env.references,
                    recipients=env.recipients,
                    base=base,
                )


def change_items(files: Iterable[FileDiff]) -> Counter[tuple[str, str, str]]:
    """Return a patch's changed lines, whitespace-blind, as a multiset keyed by path."""
    items: Counter[tuple[str, str, str]] = Counter()
    for f in files:
        for hunk in f.hunks:
            for line in hunk.lines:
                if line.kind is not LineKind.CONTEXT:
                    items[(f.path, line.kind.value, "".join(line.text.split()))] += 1
    return items


class Repeats:
    """Recognise a patch quoted or resent earlier in the same input.

    A patch whose changed lines are all among those of a patch already seen is a repeat: a
    reply quoting it, or the same patch sent again. Patches are admitted in the order they
    arrive, so an input can be streamed; kept patches are numbered in that order.
    """

    def __init__(self) -> None:
        self.seen: list[Counter[tuple[str, str, str]]] = []

    def admit(self, patch: Patch) -> Patch | None:
        """Return the patch numbered in its input, or None if it repeats one already seen."""
        items = change_items(patch.files)
        # Its lines' set within another's (a test in C) before the counts are compared.
        if not items or any(items.keys() <= seen.keys() and items <= seen
                            for seen in self.seen):
            log.info("%s: %s repeats an earlier patch; skipped", patch.input, patch.label)
            return None
        self.seen.append(items)
        return replace(patch, index=len(self.seen) - 1)


def read_message(text: str, input_name: str, hunk_limit: int) -> list[Patch]:
    """Return the patches of one message (or page), raising InputError past the hunk limit."""
    env = envelope_of(text)
    found = list(patches_of_message(env, input_name))
    hunks = sum(len(f.hunks) for p in found for f in p.files)
    if hunks > hunk_limit:
        raise InputError(f"{input_name}: skipped: too large ({hunks} hunks, limit {hunk_limit})")
    if not found:
        log.info("%s: %s has no diff; skipped", input_name, env.subject or "a message")
    return found
