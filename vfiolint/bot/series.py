"""Tell patches from replies and group them into series, the way b4 does, from headers alone.

- ``[RFC PATCH v2 3/5]`` gives the revision (2), the counter (3) and the length (5); ``0/5`` is
  the cover letter; a subject without a counter is a one-patch series. A ``Re:`` subject is a
  reply, whatever it quotes; a pull request is not a patch; a subject without a PATCH/RFC tag
  is a patch only when its body carries a diff at the top level.
- A patch joins the series of the nearest message in its References / In-Reply-To chain that
  is a patch or cover letter of the same revision and length. A patch whose parent has not
  arrived waits under that parent's Message-ID (the anchor); when the parent arrives, the
  series it waits in joins the parent's. Patches sent without threading join an open series
  of the same author, revision and length that lacks their counter.
- A new revision is linked to the previous one through its thread (v2 sent in reply to v1),
  else the same subject from the same author with a lower revision.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message as EmailMessage
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import parseaddr, parsedate_to_datetime
from enum import StrEnum

from vfiolint.bot.state import Message, State
from vfiolint.inputs.mail import clean_msgid, header_text, parse_subject

REPLY_RE = re.compile(r"^\s*((re|aw|sv|antw|vs|odp|ref|r)\s*(\[\d+\])?\s*:\s*)+", re.I)
FORWARD_RE = re.compile(r"^\s*(fwd?|wg|tr)\s*:", re.I)
MSGID_RE = re.compile(r"<([^<>\s]+)>")
TAG_RE = re.compile(r"^\s*(\[[^\]]*\]\s*)+")
DIFF_RE = re.compile(rb"^diff --git a/", re.M)
PULL_RE = re.compile(r"\[[^\]]*\bPULL\b", re.I)  # a pull request's patches were reviewed already
PATCH_WORDS = {"PATCH", "RFC"}
HEADER_END_RE = re.compile(rb"\r?\n\r?\n")


class Kind(StrEnum):
    """What a list message is to the bot."""

    COVER = "cover"
    PATCH = "patch"
    REPLY = "reply"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Heading:
    """What the headers (and, for untagged mail, a glance at the body) say about a message."""

    msgid: str | None
    subject: str
    author: str | None
    date: str | None
    when: float | None
    refs: tuple[str, ...]
    kind: Kind
    revision: int
    counter: int
    expected: int

    @property
    def parent(self) -> str | None:
        """Return the Message-ID this message answers."""
        return self.refs[-1] if self.refs else None

    def as_message(self, key: str, series: int | None) -> Message:
        """Return the state's record of this message."""
        patchy = self.kind in (Kind.COVER, Kind.PATCH)
        return Message(key, self.msgid, self.kind.value, self.subject, self.author, self.date,
                       self.refs, self.revision if patchy else None,
                       self.counter if patchy else None, self.expected if patchy else None,
                       series)


def _references(head: EmailMessage) -> tuple[str, ...]:
    """Return the thread above a message, oldest first: References, then In-Reply-To."""
    refs = MSGID_RE.findall(str(head.get("References", "")))
    parent = MSGID_RE.findall(str(head.get("In-Reply-To", "")))
    if parent and (not refs or refs[-1] != parent[-1]):
        refs.append(parent[-1])
    own = clean_msgid(str(head.get("Message-ID", "")) or None)
    out: list[str] = []
    for ref in refs:
        if ref != own and ref not in out:
            out.append(ref)
    return tuple(out)


def _when(date: str | None) -> float | None:
    """Return a Date header as seconds since the epoch."""
    try:
        return parsedate_to_datetime(date or "").timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def classify(subject: str, body: bytes) -> tuple[Kind, int, int, int]:
    """Return a message's kind, revision, counter and series length from its subject; an
    untagged subject is a patch only when the body has a top-level diff."""
    if REPLY_RE.match(subject):
        return Kind.REPLY, 1, 0, 0
    if FORWARD_RE.match(subject) or PULL_RE.search(subject):
        return Kind.OTHER, 1, 0, 0
    prefixes, revision, inferred, counter, expected = parse_subject(subject)
    if counter is not None and expected:
        return (Kind.COVER if counter == 0 else Kind.PATCH), revision, counter, expected
    tagged = not inferred or any(p.upper() in PATCH_WORDS for p in prefixes)
    if tagged or DIFF_RE.search(body):
        return Kind.PATCH, revision, 1, 1
    return Kind.OTHER, revision, 0, 0


def read_heading(data: bytes) -> Heading:
    """Read what grouping needs from a message."""
    end = HEADER_END_RE.search(data)
    cut = end.end() if end else len(data)
    head = BytesHeaderParser(policy=compat32).parsebytes(data[:cut])
    subject = header_text(head.get("Subject", ""))
    body = data[cut:]
    kind, revision, counter, expected = classify(subject, body)
    date = header_text(head["Date"]) if head.get("Date") else None
    author = header_text(head["From"]) if head.get("From") else None
    return Heading(
        msgid=clean_msgid(str(head.get("Message-ID", "")) or None), subject=subject,
        author=author, date=date, when=_when(date), refs=_references(head), kind=kind,
        revision=revision, counter=counter, expected=expected)


def normalise(subject: str | None) -> str:
    """Reduce a subject to what stays the same across revisions: no tags, no case."""
    text = REPLY_RE.sub("", subject or "")
    return " ".join(TAG_RE.sub("", text).lower().split())


def address(author: str | None) -> str | None:
    """Return the address of a From header, lower-cased."""
    mail = parseaddr(author or "")[1].lower()
    return mail or None


def _thread_target(state: State, h: Heading) -> tuple[int | None, str | None]:
    """Find the series of the nearest patch above a message in its thread; also return the
    nearest unknown ancestor (a parent that has not arrived), if the chain stops there."""
    waiting_for = None
    for ref in reversed(h.refs):
        known = state.message(ref)
        if known is None:
            if waiting_for is None and ref == h.parent:
                waiting_for = ref
            continue
        if (known.series is not None and known.revision == h.revision
                and known.expected == h.expected):
            return known.series, waiting_for
        break  # a reply, another revision, a discussion: this message starts its series
    return None, waiting_for


def place(state: State, h: Heading, key: str, raw: bytes, now: float, wait: float) -> int | None:
    """Record a patch or cover letter in its series (creating, extending or merging series);
    return the series id, or None for a duplicate of a counter the series already has."""
    target, waiting_for = _thread_target(state, h)
    if target is None and waiting_for is not None:  # a sibling already waits for that parent
        target = state.open_series_anchored(waiting_for, h.revision, h.expected)
    waiting = state.open_series_anchored(h.msgid, h.revision, h.expected) if h.msgid else None
    if target is None and waiting is None and not h.refs and h.expected > 1:
        target = state.unthreaded_series(address(h.author), h.revision, h.expected, h.counter,
                                         now - wait)
    if target is not None and waiting is not None and waiting != target:
        state.merge_series(waiting, target)
        state.rename(target, normalise(state.series(target).subject))
    sid = target if target is not None else waiting
    if sid is None:
        anchor = h.msgid or key
        if h.kind is Kind.PATCH and waiting_for is not None:
            anchor = waiting_for  # the cover letter (or previous patch) is still to come
        sid = state.create_series(anchor, h.revision, h.expected, bool(h.refs),
                                  address(h.author), now)
    elif target is None and h.kind is Kind.PATCH and waiting_for is not None:
        state.reanchor(sid, waiting_for)
    if h.counter in state.counters(sid):
        state.add_message(key, h.as_message(key, None), now, None, note="duplicate counter")
        return None
    state.add_message(key, h.as_message(key, sid), now, raw)
    state.join(sid, h.as_message(key, sid), normalise(h.subject), now)
    return sid


def find_previous(state: State, series_id: int) -> int | None:
    """Find the series this one is a new revision of: through the thread, else by subject
    and author."""
    series = state.series(series_id)
    if series.revision <= 1:
        return None
    messages = state.series_messages(series_id)
    for message, _ in messages[:1]:
        for ref in reversed(message.refs):
            known = state.message(ref)
            if known is None or known.series is None or known.series == series_id:
                continue
            older = state.series(known.series)
            if older.revision < series.revision:
                return older.id
    if not series.name:
        return None
    return state.earlier_by_name(series.name, series.author, series.revision, series_id)
