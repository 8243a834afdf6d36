"""One run of the bot, and a polling loop of runs.

A run: read the archive from the recorded positions (batches of messages committed with the
position after them); settle a reply a crash left ``sending``; decide every open series
(complete: check; incomplete past the wait: check, partial; superseded by a newer revision:
drop); deliver the replies that are due; write the check records.

Exactly once: a reply is recorded ``pending``, with its Message-ID, in the same transaction as
its series' verdict, and is marked ``sending`` just before the SMTP DATA command. A crash can
therefore leave at most one reply ``sending``, and only its fate is unknown. The next run
settles it: a written ``.eml`` file is checked on disk; an SMTP reply is never sent again by
default (``on-crash = "assume-sent"``: at most once; it is counted ``uncertain`` and
``vfiolint bot status`` lists it with its Message-ID, to look up in the server's log), or, with
``on-crash = "resend"``, it is sent again under the same Message-ID, which list archives and
mail clients use to drop a duplicate. Either way, a reply whose Message-ID turns up in the
archive (when the list is Cc'd) is marked sent.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TextIO

from vfiolint.bot.archive import Archive, Arrival
from vfiolint.bot.check import analyse_series
from vfiolint.bot.deliver import Delivery, Result, write_atomically
from vfiolint.bot.reply import Verdict, compose, record
from vfiolint.bot.series import Heading, Kind, find_previous, place, read_heading
from vfiolint.bot.settings import Clock, Settings, Smtp
from vfiolint.bot.state import State, StateError
from vfiolint.errors import VfiolintError
from vfiolint.findings import Status
from vfiolint.parallel import batched
from vfiolint.rules.loader import Rule

log = logging.getLogger(__name__)

BATCH = 500  # messages per transaction
DECISIONS = 50  # series decided per transaction
RETRIES_PER_RUN = 3  # consecutive refusals after which the rest waits for the next run
REPLY_ID = ".vfiolint@"  # in the Message-ID of every reply (make_msgid's idstring)


class BotBusy(VfiolintError):
    """Another run holds the state."""


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What one run did."""

    messages: int = 0
    checked: int = 0
    partial: int = 0
    skipped: int = 0
    superseded: int = 0
    waiting: int = 0
    sent: int = 0
    retry: int = 0
    failed: int = 0
    uncertain: int = 0

    @property
    def busy(self) -> bool:
        """Tell whether the run did anything worth telling."""
        return bool(self.messages or self.checked or self.skipped or self.superseded
                    or self.sent or self.retry or self.failed or self.uncertain)

    def line(self) -> str:
        """Say what the run did in one line."""
        return (f"{self.messages} new message(s); series: {self.checked} checked"
                f" ({self.partial} partial), {self.skipped} skipped, {self.superseded}"
                f" superseded, {self.waiting} waiting; replies: {self.sent} sent,"
                f" {self.retry} to retry, {self.failed} failed"
                + (f", {self.uncertain} uncertain" if self.uncertain else ""))


@contextlib.contextmanager
def locked(state_path: Path) -> Iterator[None]:
    """Hold the state's lock file for the duration of a run (or of a polling loop)."""
    lock_path = state_path.with_name(state_path.name + ".lock")
    try:
        handle: TextIO = lock_path.open("a")
    except OSError as exc:
        raise StateError(f"{lock_path}: cannot open: {exc.strerror or exc}") from exc
    with handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise BotBusy(f"{state_path}: in use by another bot run; nothing done") from exc
        yield


class Bot:
    """A bot for one archive, one state, one way to deliver."""

    def __init__(self, settings: Settings, rules: list[Rule], state: State, archive: Archive,
                 delivery: Delivery, clock: Clock, record_dirs: tuple[Path, ...] = (),
                 debug: bool = False) -> None:
        self.settings, self.rules, self.state = settings, rules, state
        self.archive, self.delivery, self.clock = archive, delivery, clock
        self.record_dirs, self.debug = record_dirs, debug

    def run_once(self) -> RunSummary:
        """Read, decide, deliver, record: one run."""
        counts: Counter[str] = Counter()
        self.ingest(counts)
        self.settle_crashed()
        self.decide(counts)
        self.deliver(counts)
        self.write_records()
        self.state.set_meta("last_run", str(self.clock.now()))
        counts["waiting"] = len(self.state.open_series())
        return RunSummary(**{k: counts[k] for k in RunSummary.__dataclass_fields__})

    # -- reading

    def _start(self) -> dict[str, str]:
        """Return the archive positions, the archive's ends on a first run told to skip
        history."""
        name = self.archive.name
        cursors = self.state.cursors(name)
        started = self.state.meta(f"started:{name}")
        if started is None:
            with self.state.transaction():
                if self.settings.start == "end":
                    cursors = self.archive.ends()
                    for part, position in cursors.items():
                        self.state.set_cursor(name, part, position, self.clock.now())
                self.state.set_meta(f"started:{name}", str(self.clock.now()))
        return cursors

    def ingest(self, counts: Counter[str]) -> None:
        """Record every new message of the archive, a batch per transaction."""
        cursors = self._start()
        name = self.archive.name
        arrivals = self.archive.arrivals(cursors, self.state.seen)
        for batch in batched(arrivals, BATCH):
            now = self.clock.now()
            with self.state.transaction():
                for arrival in batch:
                    self._take(arrival, now, counts)
                    if arrival.cursor is not None:
                        self.state.set_cursor(name, *arrival.cursor, now)

    def _take(self, arrival: Arrival, now: float, counts: Counter[str]) -> None:
        """Record one message, placing a patch or cover letter in its series."""
        if arrival.data is None or self.state.seen(arrival.key):
            return
        counts["messages"] += 1
        try:
            heading = read_heading(arrival.data)
        except Exception as exc:  # one unreadable message is recorded, never a stop
            log.warning("%s: unreadable headers: %s", arrival.key, exc)
            heading = Heading(None, "", None, None, None, (), Kind.OTHER, 1, 0, 0)
        if heading.msgid and REPLY_ID in heading.msgid and self.state.confirm_reply(
                heading.msgid, now):
            log.info("reply <%s> seen in the archive", heading.msgid)
        if heading.kind not in (Kind.COVER, Kind.PATCH):
            self.state.add_message(arrival.key, heading.as_message(arrival.key, None), now, None)
            return
        age = self.settings.max_age
        if age and heading.when is not None and heading.when < now - age:
            self.state.add_message(arrival.key, heading.as_message(arrival.key, None), now,
                                   None, note="older than max-age")
            return
        place(self.state, heading, arrival.key, arrival.data, now, self.settings.wait)

    # -- deciding

    def decide(self, counts: Counter[str]) -> None:
        """Check what is complete or has waited long enough; drop what a newer revision
        replaced. Verdicts are committed a batch of series at a time, each with its replies;
        nothing is sent before its verdict is committed."""
        with self.state.transaction():
            for series in self.state.open_series():
                if series.previous is None and (found := find_previous(self.state, series.id)):
                    self.state.link(series.id, found)
        for batch in batched(self.state.open_series(), DECISIONS):
            with self.state.transaction():
                for series in batch:
                    self._decide_one(series.id, series.expected, series.first_seen, counts)

    def _decide_one(self, sid: int, expected: int, first_seen: float,
                    counts: Counter[str]) -> None:
        """Decide one open series."""
        now = self.clock.now()
        if self.state.successor(sid) is not None:
            self.state.decide(sid, "superseded", now, reason="a newer revision arrived")
            self.state.drop_raw(sid)
            counts["superseded"] += 1
            return
        counters = self.state.counters(sid)
        missing = tuple(c for c in range(1, expected + 1) if c not in counters)
        if missing and now - first_seen < self.settings.wait:
            return
        if len(missing) == expected:
            self.state.decide(sid, "skipped", now, reason="no patch arrived, only a cover letter")
            self.state.drop_raw(sid)
            counts["skipped"] += 1
            return
        self.check(sid, missing, now, counts)

    def check(self, sid: int, missing: tuple[int, ...], now: float,
              counts: Counter[str]) -> None:
        """Check one series and record its verdict with the replies it calls for (inside the
        caller's transaction)."""
        series = self.state.series(sid)
        pairs = self.state.series_messages(sid)
        messages = tuple(m for m, _ in pairs)
        name = messages[0].msgid or f"series-{sid}"
        raws = [raw for _, raw in pairs if raw is not None]
        try:
            result = analyse_series(name, raws, self.rules, self.settings.rules,
                                    self.settings.tree, debug=self.debug)
        except Exception as exc:  # a series that breaks the analysis is that series' error
            log.warning("series %d (%s): %s: %s", sid, name, type(exc).__name__, exc)
            self.state.decide(sid, "error", now, reason=f"{type(exc).__name__}: {exc}")
            return
        tree = result.tree
        if result.outcome is None:
            self.state.decide(sid, "skipped", now, tree=tree.repo, base=tree.base,
                              mode=tree.mode, reason="no C file an enabled rule looks at")
            self.state.drop_raw(sid)
            counts["skipped"] += 1
            return
        previous = self.state.series(series.previous) if series.previous else None
        before = json.loads(previous.record)["findings"] if previous and previous.record else []
        verdict = Verdict(series, messages, result, missing, previous, tuple(before))
        mails = compose(self.settings, verdict, now)
        doc = record(self.settings, verdict, mails)
        introduced = sum(1 for f in verdict.findings
                         if f.status is Status.INTRODUCED and f.waiver is None)
        self.state.decide(sid, "partial" if missing else "checked", now,
                          reason=doc["check"]["description"],  # type: ignore[index]
                          tree=tree.repo, base=tree.base, mode=tree.mode,
                          introduced=introduced, record=json.dumps(doc))
        for mail in mails:
            self.state.add_reply(sid, mail.message_id, mail.in_reply_to, mail.sender,
                                 mail.recipients, mail.raw, now)
        counts["checked"] += 1
        counts["partial"] += bool(missing)

    # -- delivering

    def settle_crashed(self) -> None:
        """Settle the reply a crash left ``sending``, by what can be known, else by policy."""
        policy = self.settings.smtp.on_crash if self.settings.smtp else "assume-sent"
        for reply in self.state.replies("sending"):
            delivered = self.delivery.settle(reply)
            if delivered is True:
                self.state.set_reply(reply.seq, "sent", self.clock.now(),
                                     note="delivered before a crash")
            elif delivered is False or policy == "resend":
                self.state.set_reply(reply.seq, "pending",
                                     note="interrupted by a crash; sent again")
            else:
                self.state.set_reply(reply.seq, "uncertain",
                                     note="a crash interrupted its SMTP transaction; not sent "
                                          "again (on-crash = assume-sent)")

    def deliver(self, counts: Counter[str]) -> None:
        """Send every reply that is due; a refusal is retried later, with backoff."""
        conf = self.settings.smtp or Smtp(host="")
        refusals = 0
        try:
            for reply in self.state.replies("pending", due=self.clock.now()):
                if refusals >= RETRIES_PER_RUN:
                    break
                now = self.clock.now()
                if reply.attempts and now - reply.created > conf.give_up:
                    self.state.set_reply(reply.seq, "failed", error="gave up retrying")
                    counts["failed"] += 1
                    continue
                seq = reply.seq
                attempt = self.delivery.send(reply, partial(self.state.set_reply, seq, "sending"))
                now = self.clock.now()
                if attempt.result is Result.SENT:
                    self.state.set_reply(seq, "sent", now, note=attempt.detail, attempted=True)
                    counts["sent"] += 1
                    refusals = 0
                elif attempt.result is Result.RETRY:
                    delay = min(conf.retry * 2 ** reply.attempts, conf.retry_max)
                    self.state.set_reply(seq, "pending", error=attempt.detail,
                                         next_attempt=now + delay, attempted=True)
                    log.warning("reply <%s>: %s; next attempt in %g s", reply.message_id,
                                attempt.detail, delay)
                    counts["retry"] += 1
                    refusals += 1
                else:
                    state = "failed" if attempt.result is Result.FAILED else "uncertain"
                    self.state.set_reply(seq, state, error=attempt.detail, attempted=True)
                    log.warning("reply <%s>: %s: %s", reply.message_id, state, attempt.detail)
                    counts[state] += 1
        finally:
            self.delivery.close()

    def write_records(self) -> None:
        """Write the check records not yet written to every records folder."""
        if not self.record_dirs:
            return
        for sid, text in self.state.unwritten_records():
            try:
                for folder in self.record_dirs:
                    folder.mkdir(parents=True, exist_ok=True)
                    write_atomically(folder / f"series-{sid}.json", text.encode() + b"\n")
            except OSError as exc:  # written at a later run
                log.warning("series %d: cannot write its record: %s", sid, exc)
                return
            self.state.record_written(sid)

    # -- polling

    def next_wake(self, interval: float) -> float:
        """Return how long to sleep: the poll interval, or less when a retry or a series'
        wait falls due sooner."""
        now = self.clock.now()
        wake = interval
        due = self.state.next_attempt()
        if due is not None:
            wake = min(wake, due - now)
        for series in self.state.open_series():
            wake = min(wake, series.first_seen + self.settings.wait - now)
        return max(wake, 0.05)

    def follow(self, stop: threading.Event,
               report: Callable[[RunSummary], None] | None = None) -> None:
        """Run again and again until ``stop`` is set, polling faster after news and backing
        off (doubling up to ``poll.max``) while the archive is quiet or failing."""
        interval = self.settings.poll_min
        while not stop.is_set():
            try:
                summary = self.run_once()
                busy = summary.busy
                if report is not None:
                    report(summary)
            except VfiolintError as exc:
                log.warning("%s", exc)
                busy = False
            interval = self.settings.poll_min if busy else min(interval * 2,
                                                               self.settings.poll_max)
            stop.wait(self.next_wake(interval))
