"""The keyword pre-filter: which of the rules' keyword parts a text holds.

Two ways to ask, for two kinds of question:

* ``Presence`` answers lazily, part by part, for the files that are read anyway: a rule one of
  whose keywords is found asks for no more.
* ``KeywordSet.scan`` finds every part of a rule set in one text at once, so that the answer
  can be kept by git blob id (``BlobKeywords``) and a blob is scanned once, in any run. A
  commit's post-image is then judged without being read: its lines are the pre-image's lines
  and the lines the commit adds, and no part spans a line break, so the parts it holds are
  among the pre-image's and the added lines'.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from vfiolint.c.cache import FORMAT

if TYPE_CHECKING:
    import sqlite3

    from vfiolint.c.cache import Cache

log = logging.getLogger(__name__)
WORD_START = b"\\b"
KIND = "keywords"  # the cache's table of them; one per set of parts
VERSION = 1  # bump when what a scan finds changes
BATCH = 256  # answers written to the table at once
MEMO = 1 << 16  # answers a process keeps in memory (the oldest go first)


def occurs(part: bytes, text: bytes) -> bool:
    """Tell whether a keyword part occurs in a text: anywhere, or, written ``\\bname``, only
    where no letter, digit or ``_`` comes just before it (``\\bpread`` is in ``pread64(`` and
    ``(pread``, not in ``spread`` or ``rte_pread``)."""
    if not part.startswith(WORD_START):
        return part in text
    word = part[len(WORD_START):]
    at = text.find(word)
    while at != -1:
        if at == 0 or not (text[at - 1:at].isalnum() or text[at - 1] == 0x5F):
            return True
        at = text.find(word, at + 1)
    return False


@lru_cache(maxsize=1024)
def keyword_parts(keyword: bytes) -> tuple[bytes, ...]:
    """Return the parts of a keyword: ``vfio&fd`` is found where both ``vfio`` and ``fd``
    are."""
    return tuple(part for part in keyword.split(b"&") if part)


@lru_cache(maxsize=256)
def keyword_sets(keywords: tuple[bytes, ...]) -> tuple[frozenset[bytes], ...]:
    """Return each keyword's parts as a set: what a set of the parts found must hold."""
    return tuple(frozenset(keyword_parts(k)) for k in keywords)


def word(part: bytes) -> bytes:
    """Return what a part looks for, without its ``\\b``."""
    return part[len(WORD_START):] if part.startswith(WORD_START) else part


def implies(outer: bytes, inner: bytes) -> bool:
    """Tell whether every occurrence of ``outer`` is one of ``inner`` (so that ``inner``
    absent means ``outer`` absent): ``vfio_`` is in every ``vfio_irq_set``; ``\\bpread`` is
    in ``\\bpread64`` but not in every ``xpread``."""
    if outer == inner:
        return False
    if not inner.startswith(WORD_START):
        return inner in word(outer)
    return outer.startswith(WORD_START) and word(outer).startswith(word(inner))


class Presence:
    """Which keyword parts some of a file's texts hold, found lazily (``part in presence``)."""

    def __init__(self, texts: tuple[bytes, ...]) -> None:
        self.memos = [_presence_memo(text) for text in texts]
        self.texts = texts

    def __contains__(self, part: object) -> bool:
        assert isinstance(part, bytes)
        return any(_holds(text, memo, part) for text, memo in zip(self.texts, self.memos, strict=True))


def _holds(text: bytes, memo: dict[bytes, bool], part: bytes) -> bool:
    """Tell whether a text holds a part, remembering the answer with the text."""
    known = memo.get(part)
    if known is None:
        known = memo[part] = occurs(part, text)
    return known


@lru_cache(maxsize=64)
def _presence_memo(text: bytes) -> dict[bytes, bool]:
    """Return the memo of which parts a text holds (kept with the text: a blob recurs across a
    commit range)."""
    del text
    return {}


@dataclass(frozen=True)
class KeywordSet:
    """Every keyword part of a rule set, found in a text in one go.

    A part that holds a shorter one is looked for only where the shorter one was found (no
    ``vfio_irq_set`` without ``vfio_``), so a text that holds none of the parts, the usual
    answer, is scanned once for each part that holds no other."""

    parts: tuple[bytes, ...]  # sorted, distinct

    @staticmethod
    @lru_cache(maxsize=8)
    def of(keywords: tuple[bytes, ...]) -> KeywordSet:
        """Return the set of the parts of some keywords (``a&b`` has two), one per run."""
        return KeywordSet(tuple(sorted({p for k in keywords for p in keyword_parts(k)})))

    @cached_property
    def _order(self) -> tuple[tuple[bytes, tuple[bytes, ...]], ...]:
        """Return each part, shortest first, with the shorter parts every occurrence of it
        holds."""
        by_length = sorted(self.parts, key=lambda p: (len(word(p)), p))
        return tuple((p, tuple(q for q in self.parts if implies(p, q))) for p in by_length)

    @cached_property
    def digest(self) -> str:
        """Return a name for this set of parts (its cache entries are its own)."""
        import hashlib  # a run that keeps blobs' parts needs it, a mailed patch does not

        text = b"\0".join((str(VERSION).encode(), *self.parts))
        return hashlib.sha1(text, usedforsecurity=False).hexdigest()[:16]

    @cached_property
    def _steps(self) -> tuple[tuple[bytes, tuple[bytes, ...], bool], ...]:
        """Return ``_order`` with, for each part, whether it is a plain substring."""
        return tuple((p, within, not p.startswith(WORD_START)) for p, within in self._order)

    def scan(self, text: bytes) -> frozenset[bytes]:
        """Return the parts the text holds."""
        found: set[bytes] = set()
        for part, within, plain in self._steps:
            if within and not found.issuperset(within):
                continue
            if (part in text) if plain else occurs(part, text):
                found.add(part)
        return frozenset(found)

    def encode(self, found: frozenset[bytes]) -> int:
        """Return a set of parts as a bit mask (bit i: ``parts[i]``)."""
        return sum(1 << i for i, p in enumerate(self.parts) if p in found)

    def decode(self, mask: int) -> frozenset[bytes]:
        """Return the set of parts a bit mask names."""
        return frozenset(p for i, p in enumerate(self.parts) if mask >> i & 1)


@dataclass
class BlobKeywords:
    """The parts each git blob holds, by blob id: kept in memory and in the cache, where every
    run with the same parts shares them.

    On disk they are one SQLite table per set of parts (``<cache>/v1/keywords-<digest>.sqlite``,
    a row per blob): a blob's answer is a few bytes, not a file. Written in batches, shared by
    concurrent runs (SQLite's locking, a rollback journal), opened again after a fork; a damaged table is
    dropped and rebuilt with one warning, and a cache that cannot be written keeps the answers
    in memory only.

    An entry may hold more parts than its blob does, never fewer (a post-image judged from
    its pre-image and added lines): it can make a file read that need not be, never skip one
    that must."""

    keywords: KeywordSet
    cache: Cache | None = None
    memo: dict[str, frozenset[bytes]] = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)  # written at the next flush
    _db: sqlite3.Connection | None = field(default=None, repr=False)
    _pid: int = 0  # the process the connection belongs to
    _off: bool = False  # the disk is not used (no cache, or it failed)

    @property
    def path(self) -> Path | None:
        """Return the table's file (None without a cache)."""
        if self.cache is None or self.cache.root is None:
            return None
        return self.cache.root / FORMAT / f"{KIND}-{self.keywords.digest}.sqlite"

    def get(self, oid: str | None) -> frozenset[bytes] | None:
        """Return the parts a blob holds, None when it was never scanned."""
        if not oid:
            return None
        found = self.memo.get(oid)
        if found is None and len(oid) >= 40:
            row = self._query(oid)
            if row is not None:
                found = self._remember(oid, self.keywords.decode(row))
        return found

    def get_many(self, oids: list[str]) -> dict[str, frozenset[bytes]]:
        """Return the parts of the blobs that were scanned, by id (one query for the rest of
        them)."""
        found = {o: p for o in oids if (p := self.memo.get(o)) is not None}
        rest = [o for o in oids if o not in found and len(o) >= 40]
        for oid, mask in self._query_many(rest).items():
            found[oid] = self._remember(oid, self.keywords.decode(mask))
        return found

    def _remember(self, oid: str, found: frozenset[bytes]) -> frozenset[bytes]:
        """Keep an answer in memory, a bounded number of them."""
        self.memo[oid] = found
        if len(self.memo) > MEMO:
            self.memo.pop(next(iter(self.memo)))
        return found

    def put(self, oid: str | None, found: frozenset[bytes]) -> None:
        """Remember the parts a blob holds (or a set that holds them)."""
        if not oid or self.memo.get(oid) == found:
            return
        self._remember(oid, found)
        if len(oid) >= 40 and not self._off and self.path is not None:
            self.pending[oid] = self.keywords.encode(found)
            if len(self.pending) >= BATCH:
                self.flush()

    def scanned(self, oid: str | None, text: bytes) -> frozenset[bytes]:
        """Scan a blob's text, remember the parts it holds, and return them."""
        found = self.keywords.scan(text)
        self.put(oid, found)
        return found

    def flush(self) -> None:
        """Write the answers not yet written, in one transaction."""
        import sqlite3  # only a run with a cache opens the table

        if not self.pending:
            return
        rows = [(oid, format(mask, "x")) for oid, mask in self.pending.items()]
        self.pending.clear()
        db = self._connection()
        if db is None or self.cache is None or not self.cache.writable:
            return
        try:
            with db:
                db.executemany("INSERT OR REPLACE INTO parts VALUES (?, ?)", rows)
        except sqlite3.Error as exc:
            self._failed(exc)

    def _query(self, oid: str) -> int | None:
        """Return a blob's mask from the table (None: not there)."""
        import sqlite3  # only a run with a cache opens the table

        db = self._connection()
        if db is None:
            return None
        try:
            row = db.execute("SELECT mask FROM parts WHERE oid = ?", (oid,)).fetchone()
            return int(row[0], 16) if row is not None else None
        except (sqlite3.Error, ValueError, TypeError) as exc:
            self._failed(exc)
            return None

    def _query_many(self, oids: list[str]) -> dict[str, int]:
        """Return the masks the table holds for some blobs (those it has)."""
        import sqlite3  # only a run with a cache opens the table

        db = self._connection() if oids else None
        if db is None:
            return {}
        try:
            marks = ",".join("?" * len(oids))
            rows = db.execute(f"SELECT oid, mask FROM parts WHERE oid IN ({marks})", oids)
            return {str(oid): int(mask, 16) for oid, mask in rows}
        except (sqlite3.Error, ValueError, TypeError) as exc:
            self._failed(exc)
            return {}

    def _connection(self) -> sqlite3.Connection | None:
        """Return this process's connection to the table, opening (or making) it first."""
        import sqlite3  # only a run with a cache opens the table

        path = self.path
        if self._off or path is None:
            return None
        if self._db is not None and self._pid == os.getpid():
            return self._db
        self._db = None  # a connection made before a fork is the parent's
        writable = self.cache is not None and self.cache.writable
        if not writable and not path.is_file():
            self._off = True  # nothing to read, and nowhere to write
            return None
        for attempt in (1, 2):
            try:
                db = _open_table(path, writable)
            except sqlite3.DatabaseError as exc:
                damaged = not isinstance(exc, sqlite3.OperationalError)  # not a database
                if damaged and attempt == 1 and _drop_table(path, exc):
                    continue  # dropped: make it again
                break
            except (sqlite3.Error, OSError):
                break  # cannot be opened or made (read-only, locked, missing): memory only
            self._db, self._pid = db, os.getpid()
            return db
        self._off = True
        return None

    def _failed(self, exc: Exception) -> None:
        """Stop using the table after an error, with one warning."""
        log.warning("cache: %s: %s; keyword parts kept in memory only", self.path, exc)
        self._off = True
        self._db = None

    def close(self) -> None:
        """Write what is pending and close the connection."""
        import sqlite3  # only a run with a cache opens the table

        self.flush()
        if self._db is not None and self._pid == os.getpid():
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
        self._db = None


def _open_table(path: Path, writable: bool) -> sqlite3.Connection:
    """Open the table's database, making it when it can be written (raises on failure)."""
    import sqlite3  # only a run with a cache opens the table

    if not writable:
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=10)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, timeout=10)
        # A rollback journal, not WAL: WAL needs memory shared between the processes, which a
        # cache directory on a network filesystem, shared by CI runners, does not give.
        db.execute("PRAGMA journal_mode=DELETE")
        db.execute("PRAGMA synchronous=OFF")  # a cache: losing the last batch costs a scan
        db.execute("CREATE TABLE IF NOT EXISTS parts (oid TEXT PRIMARY KEY, mask TEXT NOT NULL)"
                   " WITHOUT ROWID")
    db.execute("SELECT count(*) FROM parts WHERE oid = ''").fetchone()  # a damaged file fails
    return db


def _drop_table(path: Path, exc: Exception) -> bool:
    """Remove a damaged table's files, with one warning; tell whether it is gone."""
    log.warning("cache: %s: damaged keyword table dropped and rebuilt (%s)", path, exc)
    try:
        for name in (path, path.with_name(path.name + "-journal")):
            name.unlink(missing_ok=True)
    except OSError:
        return False
    return True
