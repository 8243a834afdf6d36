"""The bot's memory, in SQLite: messages seen, series and their revisions, what each series was
checked against, and the replies by their Message-ID.

Every change is made in a transaction with what it depends on: a batch of messages with the
archive position after it; a series' verdict with its check record and the replies it calls
for (each with its Message-ID chosen before anything is sent). A reply goes ``pending`` ->
``sending`` (committed before the SMTP DATA command) -> ``sent``; a crash leaves at most the
one reply in ``sending``, and the next run settles it by policy (see ``runner``).
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from vfiolint.errors import VfiolintError

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cursors(
  archive TEXT NOT NULL, part TEXT NOT NULL, position TEXT NOT NULL, updated REAL NOT NULL,
  PRIMARY KEY (archive, part));
CREATE TABLE IF NOT EXISTS messages(
  key TEXT PRIMARY KEY, msgid TEXT, kind TEXT NOT NULL, subject TEXT, author TEXT, date TEXT,
  refs TEXT NOT NULL, revision INTEGER, counter INTEGER, expected INTEGER, series INTEGER,
  seen REAL NOT NULL, raw BLOB, note TEXT);
CREATE INDEX IF NOT EXISTS messages_msgid ON messages(msgid);
CREATE INDEX IF NOT EXISTS messages_series ON messages(series);
CREATE TABLE IF NOT EXISTS series(
  id INTEGER PRIMARY KEY, anchor TEXT NOT NULL, cover TEXT, revision INTEGER NOT NULL,
  expected INTEGER NOT NULL, threaded INTEGER NOT NULL, author TEXT, subject TEXT, name TEXT,
  head_counter INTEGER NOT NULL, first_seen REAL NOT NULL, last_seen REAL NOT NULL,
  state TEXT NOT NULL, previous INTEGER, decided REAL, reason TEXT, tree TEXT, base TEXT,
  mode TEXT, introduced INTEGER, record TEXT, record_written INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS series_anchor ON series(anchor, state);
CREATE INDEX IF NOT EXISTS series_state ON series(state);
CREATE INDEX IF NOT EXISTS series_name ON series(name);
CREATE TABLE IF NOT EXISTS replies(
  seq INTEGER PRIMARY KEY, message_id TEXT NOT NULL UNIQUE, series INTEGER NOT NULL,
  in_reply_to TEXT, sender TEXT NOT NULL, recipients TEXT NOT NULL, state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0, next_attempt REAL NOT NULL, last_error TEXT,
  created REAL NOT NULL, sent REAL, raw BLOB NOT NULL, note TEXT);
CREATE INDEX IF NOT EXISTS replies_state ON replies(state, next_attempt);
"""
OPEN = "open"
SENDING = "sending"


class StateError(VfiolintError):
    """A state file that cannot be used."""


@dataclass(frozen=True, slots=True)
class Message:
    """A message as the state remembers it."""

    key: str
    msgid: str | None
    kind: str
    subject: str | None
    author: str | None
    date: str | None
    refs: tuple[str, ...]
    revision: int | None
    counter: int | None
    expected: int | None
    series: int | None


@dataclass(frozen=True, slots=True)
class Series:
    """A series (one revision) as the state remembers it."""

    id: int
    anchor: str
    cover: str | None
    revision: int
    expected: int
    threaded: bool
    author: str | None
    subject: str | None
    name: str | None
    first_seen: float
    last_seen: float
    state: str
    previous: int | None
    decided: float | None
    reason: str | None
    introduced: int | None
    record: str | None


@dataclass(frozen=True, slots=True)
class Reply:
    """A reply the bot means to send, is sending, or sent."""

    seq: int
    message_id: str
    series: int
    in_reply_to: str | None
    sender: str
    recipients: tuple[str, ...]
    state: str
    attempts: int
    next_attempt: float
    last_error: str | None
    created: float
    raw: bytes


def _message(row: sqlite3.Row) -> Message:
    """Build a Message from its row."""
    return Message(row["key"], row["msgid"], row["kind"], row["subject"], row["author"],
                   row["date"], tuple(json.loads(row["refs"])), row["revision"], row["counter"],
                   row["expected"], row["series"])


def _series(row: sqlite3.Row) -> Series:
    """Build a Series from its row."""
    return Series(row["id"], row["anchor"], row["cover"], row["revision"], row["expected"],
                  bool(row["threaded"]), row["author"], row["subject"], row["name"],
                  row["first_seen"], row["last_seen"], row["state"], row["previous"],
                  row["decided"], row["reason"], row["introduced"], row["record"])


def _reply(row: sqlite3.Row) -> Reply:
    """Build a Reply from its row."""
    return Reply(row["seq"], row["message_id"], row["series"], row["in_reply_to"],
                 row["sender"], tuple(json.loads(row["recipients"])), row["state"],
                 row["attempts"], row["next_attempt"], row["last_error"], row["created"],
                 bytes(row["raw"]))


class State:
    """One bot's SQLite state file."""

    def __init__(self, path: Path, readonly: bool = False) -> None:
        self.path = path
        try:
            if readonly:
                if not path.is_file():
                    raise StateError(f"{path}: no such state file")
                self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
            else:
                self.db = sqlite3.connect(path, isolation_level=None, timeout=30)
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=FULL")  # a 'sending' mark must survive
            self.db.row_factory = sqlite3.Row
            if not readonly:
                self.db.executescript(SCHEMA)
            self._check_version(readonly)
        except sqlite3.Error as exc:
            raise StateError(f"{path}: {exc}") from exc

    def _check_version(self, readonly: bool) -> None:
        """Refuse a state written by a newer schema; stamp a new one."""
        row = self.db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if row is None:
            if readonly:
                raise StateError(f"{self.path}: not a vfiolint bot state")
            self.db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        elif int(row["value"]) > SCHEMA_VERSION:
            raise StateError(f"{self.path}: written by a newer vfiolint (schema "
                             f"{row['value']})")

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run a block as one transaction: all of it is recorded, or none."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- meta and positions

    def meta(self, key: str) -> str | None:
        """Return a meta value."""
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row["value"])

    def set_meta(self, key: str, value: str) -> None:
        """Set a meta value."""
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def cursors(self, archive: str) -> dict[str, str]:
        """Return the recorded position of each part of an archive."""
        rows = self.db.execute("SELECT part, position FROM cursors WHERE archive=?", (archive,))
        return {r["part"]: r["position"] for r in rows}

    def all_cursors(self) -> list[tuple[str, str, str, float]]:
        """Return every recorded position: archive, part, position, when."""
        rows = self.db.execute("SELECT * FROM cursors ORDER BY archive, part")
        return [(r["archive"], r["part"], r["position"], r["updated"]) for r in rows]

    def set_cursor(self, archive: str, part: str, position: str, now: float) -> None:
        """Record the position reached in one part of an archive."""
        self.db.execute("INSERT OR REPLACE INTO cursors VALUES (?, ?, ?, ?)",
                        (archive, part, position, now))

    # -- messages

    def seen(self, key: str) -> bool:
        """Tell whether a message is already recorded."""
        return self.db.execute("SELECT 1 FROM messages WHERE key=?", (key,)).fetchone() is not None

    def add_message(self, key: str, message: Message, now: float, raw: bytes | None,
                    note: str | None = None) -> None:
        """Record a message (its bytes only when a series may need them)."""
        self.db.execute(
            "INSERT OR IGNORE INTO messages VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (key, message.msgid, message.kind, message.subject, message.author, message.date,
             json.dumps(list(message.refs)), message.revision, message.counter,
             message.expected, message.series, now,
             zlib.compress(raw) if raw is not None else None, note))

    def message(self, msgid: str) -> Message | None:
        """Return the message with a Message-ID (a patch or cover letter first)."""
        row = self.db.execute(
            "SELECT * FROM messages WHERE msgid=? ORDER BY series IS NULL, rowid LIMIT 1",
            (msgid,)).fetchone()
        return None if row is None else _message(row)

    def series_messages(self, series: int) -> list[tuple[Message, bytes | None]]:
        """Return a series' cover letter and patches in order, with their bytes."""
        rows = self.db.execute("SELECT * FROM messages WHERE series=? ORDER BY counter, rowid",
                               (series,))
        return [(_message(r), zlib.decompress(r["raw"]) if r["raw"] is not None else None)
                for r in rows]

    def counters(self, series: int) -> set[int]:
        """Return the counters (0 for the cover letter) a series holds."""
        rows = self.db.execute("SELECT counter FROM messages WHERE series=?", (series,))
        return {int(r["counter"]) for r in rows}

    def drop_raw(self, series: int) -> None:
        """Forget the bytes of a series' messages (it will not be analysed)."""
        self.db.execute("UPDATE messages SET raw=NULL WHERE series=?", (series,))

    def message_counts(self) -> dict[str, int]:
        """Count the recorded messages by kind."""
        rows = self.db.execute("SELECT kind, COUNT(*) AS n FROM messages GROUP BY kind")
        return {r["kind"]: r["n"] for r in rows}

    # -- series

    def series(self, sid: int) -> Series:
        """Return one series."""
        return _series(self.db.execute("SELECT * FROM series WHERE id=?", (sid,)).fetchone())

    def open_series(self) -> list[Series]:
        """Return every series not decided yet, oldest first."""
        rows = self.db.execute("SELECT * FROM series WHERE state=? ORDER BY id", (OPEN,))
        return [_series(r) for r in rows]

    def open_series_anchored(self, anchor: str, revision: int, expected: int) -> int | None:
        """Return the open series waiting under an anchor, for one revision and length."""
        row = self.db.execute(
            "SELECT id FROM series WHERE anchor=? AND state=? AND revision=? AND expected=? "
            "ORDER BY id LIMIT 1", (anchor, OPEN, revision, expected)).fetchone()
        return None if row is None else int(row["id"])

    def unthreaded_series(self, author: str | None, revision: int, expected: int, counter: int,
                          since: float) -> int | None:
        """Return an open unthreaded series by the same author that lacks a counter."""
        row = self.db.execute(
            "SELECT s.id FROM series s WHERE s.threaded=0 AND s.state=? AND s.author IS ? "
            "AND s.revision=? AND s.expected=? AND s.first_seen>=? AND NOT EXISTS "
            "(SELECT 1 FROM messages m WHERE m.series=s.id AND m.counter=?) ORDER BY s.id "
            "DESC LIMIT 1", (OPEN, author, revision, expected, since, counter)).fetchone()
        return None if row is None else int(row["id"])

    def create_series(self, anchor: str, revision: int, expected: int, threaded: bool,
                      author: str | None, now: float) -> int:
        """Start a series and return its id."""
        cur = self.db.execute(
            "INSERT INTO series (anchor, revision, expected, threaded, author, head_counter, "
            "first_seen, last_seen, state) VALUES (?,?,?,?,?,?,?,?,?)",
            (anchor, revision, expected, int(threaded), author, 1 << 30, now, now, OPEN))
        assert cur.lastrowid is not None
        return int(cur.lastrowid)

    def join(self, sid: int, message: Message, name: str, now: float) -> None:
        """Count a message into a series: the cover letter, else the lowest patch, heads it."""
        counter = message.counter if message.counter is not None else 1
        self.db.execute(
            "UPDATE series SET last_seen=MAX(last_seen, ?), "
            "cover=CASE WHEN ?=0 THEN ? ELSE cover END, "
            "subject=CASE WHEN ?<head_counter THEN ? ELSE subject END, "
            "name=CASE WHEN ?<head_counter THEN ? ELSE name END, "
            "head_counter=MIN(head_counter, ?) WHERE id=?",
            (now, counter, message.msgid, counter, message.subject, counter, name, counter, sid))

    def reanchor(self, sid: int, anchor: str) -> None:
        """Move a waiting series' anchor up its thread."""
        self.db.execute("UPDATE series SET anchor=? WHERE id=?", (anchor, sid))

    def merge_series(self, source: int, target: int) -> None:
        """Move every message of one series into another and forget the first."""
        self.db.execute("UPDATE messages SET series=? WHERE series=?", (target, source))
        self.db.execute(
            "UPDATE series SET first_seen=MIN(first_seen, (SELECT first_seen FROM series WHERE "
            "id=?)), last_seen=MAX(last_seen, (SELECT last_seen FROM series WHERE id=?)) "
            "WHERE id=?", (source, source, target))
        head = self.db.execute(
            "SELECT * FROM messages WHERE series=? ORDER BY counter, rowid LIMIT 1",
            (target,)).fetchone()
        cover = self.db.execute(
            "SELECT msgid FROM messages WHERE series=? AND counter=0 LIMIT 1",
            (target,)).fetchone()
        self.db.execute("DELETE FROM series WHERE id=?", (source,))
        if head is not None:
            self.db.execute(
                "UPDATE series SET subject=?, head_counter=?, cover=? WHERE id=?",
                (head["subject"], head["counter"], cover["msgid"] if cover else None, target))

    def rename(self, sid: int, name: str) -> None:
        """Set the subject key revisions are matched on."""
        self.db.execute("UPDATE series SET name=? WHERE id=?", (name, sid))

    def link(self, sid: int, previous: int) -> None:
        """Record that a series is a new revision of another."""
        self.db.execute("UPDATE series SET previous=? WHERE id=?", (previous, sid))

    def successor(self, sid: int) -> int | None:
        """Return a series recorded as a newer revision of this one."""
        row = self.db.execute("SELECT id FROM series WHERE previous=? ORDER BY id LIMIT 1",
                              (sid,)).fetchone()
        return None if row is None else int(row["id"])

    def earlier_by_name(self, name: str, author: str | None, revision: int, sid: int
                        ) -> int | None:
        """Return the latest earlier revision with the same subject and author."""
        row = self.db.execute(
            "SELECT id FROM series WHERE name=? AND author IS ? AND revision<? AND id<>? "
            "ORDER BY revision DESC, id DESC LIMIT 1", (name, author, revision, sid)).fetchone()
        return None if row is None else int(row["id"])

    def decide(self, sid: int, state: str, now: float, reason: str | None = None,
               tree: str | None = None, base: str | None = None, mode: str | None = None,
               introduced: int | None = None, record: str | None = None) -> None:
        """Record a series' verdict (call inside the transaction that adds its replies)."""
        self.db.execute(
            "UPDATE series SET state=?, decided=?, reason=?, tree=?, base=?, mode=?, "
            "introduced=?, record=? WHERE id=?",
            (state, now, reason, tree, base, mode, introduced, record, sid))

    def unwritten_records(self) -> list[tuple[int, str]]:
        """Return the check records not yet written out."""
        rows = self.db.execute("SELECT id, record FROM series WHERE record IS NOT NULL AND "
                               "record_written=0 ORDER BY id")
        return [(int(r["id"]), str(r["record"])) for r in rows]

    def record_written(self, sid: int) -> None:
        """Note that a series' check record was written out."""
        self.db.execute("UPDATE series SET record_written=1 WHERE id=?", (sid,))

    def series_counts(self) -> dict[str, int]:
        """Count the series by state."""
        rows = self.db.execute("SELECT state, COUNT(*) AS n FROM series GROUP BY state")
        return {r["state"]: r["n"] for r in rows}

    def recent_series(self, limit: int) -> list[Series]:
        """Return the series decided last, newest first."""
        rows = self.db.execute("SELECT * FROM series WHERE state<>? ORDER BY decided DESC, id "
                               "DESC LIMIT ?", (OPEN, limit))
        return [_series(r) for r in rows]

    # -- replies

    def add_reply(self, series: int, message_id: str, in_reply_to: str | None, sender: str,
                  recipients: tuple[str, ...], raw: bytes, now: float) -> None:
        """Record the intent to send a reply, with the Message-ID it will carry."""
        self.db.execute(
            "INSERT INTO replies (message_id, series, in_reply_to, sender, recipients, state, "
            "next_attempt, created, raw) VALUES (?,?,?,?,?,?,?,?,?)",
            (message_id, series, in_reply_to, sender, json.dumps(list(recipients)), "pending",
             now, now, raw))

    def replies(self, state: str, due: float | None = None) -> list[Reply]:
        """Return the replies in a state (only those due by ``due`` when given), in order."""
        if due is None:
            rows = self.db.execute("SELECT * FROM replies WHERE state=? ORDER BY seq", (state,))
        else:
            rows = self.db.execute("SELECT * FROM replies WHERE state=? AND next_attempt<=? "
                                   "ORDER BY seq", (state, due))
        return [_reply(r) for r in rows]

    def series_replies(self, series: int) -> list[Reply]:
        """Return the replies of one series."""
        rows = self.db.execute("SELECT * FROM replies WHERE series=? ORDER BY seq", (series,))
        return [_reply(r) for r in rows]

    def next_attempt(self) -> float | None:
        """Return when the next pending reply is due."""
        row = self.db.execute("SELECT MIN(next_attempt) AS t FROM replies WHERE "
                              "state='pending'").fetchone()
        return None if row is None or row["t"] is None else float(row["t"])

    def set_reply(self, seq: int, state: str, now: float | None = None,
                  error: str | None = None, note: str | None = None,
                  next_attempt: float | None = None, attempted: bool = False) -> None:
        """Move a reply to a state, committing at once (outside any batch)."""
        self.db.execute(
            "UPDATE replies SET state=?, sent=COALESCE(?, sent), last_error=COALESCE(?, "
            "last_error), note=COALESCE(?, note), next_attempt=COALESCE(?, next_attempt), "
            "attempts=attempts+? WHERE seq=?",
            (state, now if state == "sent" else None, error, note, next_attempt,
             int(attempted), seq))

    def confirm_reply(self, message_id: str, now: float) -> bool:
        """Mark a reply sent because the archive shows it; tell whether one was waiting."""
        cur = self.db.execute(
            "UPDATE replies SET state='sent', sent=COALESCE(sent, ?), note='seen in the "
            "archive' WHERE message_id=? AND state<>'sent'", (now, message_id))
        return cur.rowcount > 0

    def reply_counts(self) -> dict[str, int]:
        """Count the replies by state."""
        rows = self.db.execute("SELECT state, COUNT(*) AS n FROM replies GROUP BY state")
        return {r["state"]: r["n"] for r in rows}
