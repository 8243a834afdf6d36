"""The index's on-disk cache: entries keyed by git object id, safe to share and to lose (the
keyword parts each blob holds live beside them, in one SQLite table per set of parts:
``rules/keywords.py``).

Where: ``--cache-dir DIR``, else ``$XDG_CACHE_HOME/vfiolint``, else ``~/.cache/vfiolint``;
``--no-cache`` keeps everything in memory. An entry is ``<root>/<version>/<kind>/<id[:2]>/
<id[2:]>``: a header (magic, length, CRC-32) and a ``marshal``-ed payload. The cache survives
its usual hazards:

* two runs at once: an entry is written to a temporary file beside it and renamed over it
  (``os.replace`` is atomic), so a reader sees a whole old entry, a whole new one, or none;
  work both would do (indexing one tree) is serialised by a lock file;
* a run killed mid-write: only its temporary file is left half written, never an entry;
* a truncated or garbage entry: its header does not check out, so it is ignored, rebuilt and
  rewritten, with one warning;
* a directory that cannot be written (read-only, full, a file in the way): one warning, then
  the run goes on without writing (what can be read is still read).

The cache is bounded (``--cache-limit MIB``, 2048 by default; 0: no bound). At most once a
day, a run that can write it adds up its entries and, over the bound, removes the entries
written longest ago until it is back under 80% of it; a tree's name map, its blobs' outlines
and a kept difference count as written when last read, so the trees in use stay. Removing is
safe at any time: a run that misses an entry makes it again, and one that was reading it
keeps what it read. The keyword tables are left alone (they are small), and so are lock
files in use and the temporary files of writes under way.
"""

from __future__ import annotations

import contextlib
import logging
import marshal
import os
import struct
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FORMAT = "v1"
MAGIC = b"VFLC\x01"
LIMIT_MIB = 2048  # the default bound of the cache's size
KEPT = 0.8  # a pruned cache is brought back under this share of its bound
PRUNE_EVERY = 24 * 3600  # seconds between two looks at the cache's size
TOUCHED = frozenset({"tree", "pack", "delta"})  # read back whole for a tree: last read counts
STALE = 3600  # seconds after which a temporary or lock file is a leftover
_HEADER = struct.Struct(">5sQI")  # magic, payload length, CRC-32 of the payload


def default_root() -> Path:
    """Return the cache directory the environment names (``$XDG_CACHE_HOME/vfiolint``)."""
    base = os.environ.get("XDG_CACHE_HOME") or ""
    return (Path(base) if base else Path.home() / ".cache") / "vfiolint"


def encode(value: Any) -> bytes:
    """Return an entry's bytes for a value of plain tuples, dicts, strings and numbers."""
    payload = marshal.dumps(value)
    return _HEADER.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload


def decode(data: bytes) -> object:
    """Return the value an entry holds; ValueError when it is truncated or damaged."""
    if len(data) < _HEADER.size:
        raise ValueError("truncated header")
    magic, length, crc = _HEADER.unpack_from(data)
    payload = data[_HEADER.size:]
    if magic != MAGIC or length != len(payload) or zlib.crc32(payload) != crc:
        raise ValueError("bad header or checksum")
    try:
        return marshal.loads(payload)
    except (EOFError, TypeError, ValueError) as exc:
        raise ValueError(f"bad payload: {exc}") from exc


@dataclass
class Cache:
    """One run's view of the cache (``root`` None: no cache at all)."""

    root: Path | None
    writable: bool = True
    warned: set[str] = field(default_factory=set)
    made: set[Path] = field(default_factory=set, repr=False)

    @classmethod
    def open(cls, root: Path | None) -> Cache:
        """Open the cache at root, finding out once whether it can be written."""
        cache = cls(root)
        if root is not None:
            cache.writable = cache._probe()
        return cache

    def _dir(self, kind: str) -> Path:
        """Return the directory of one kind of entry."""
        assert self.root is not None
        return self.root / FORMAT / kind

    def _path(self, kind: str, key: str) -> Path:
        """Return where an entry lives."""
        return self._dir(kind) / key[:2] / key[2:]

    def _probe(self) -> bool:
        """Tell whether the cache can be written; say so once when it cannot."""
        import tempfile

        assert self.root is not None
        try:
            folder = self.root / FORMAT
            folder.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=folder, prefix=".probe-")
            os.close(fd)
            Path(name).unlink()
        except OSError as exc:
            self._cannot_write(exc)
            return False
        return True

    def _cannot_write(self, exc: OSError) -> None:
        """Stop writing, with one warning."""
        self.writable = False
        if "write" not in self.warned:
            self.warned.add("write")
            log.warning("cache: cannot write to %s (%s); going on without it", self.root,
                        exc.strerror or exc)

    def get(self, kind: str, key: str) -> object | None:
        """Return an entry's value, None when there is none; a damaged entry is dropped with
        one warning (the caller rebuilds and puts it back)."""
        if self.root is None:
            return None
        path = self._path(kind, key)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        if kind in TOUCHED and self.writable:
            with contextlib.suppress(OSError):
                os.utime(path)  # in use: what a bounded cache removes last
        try:
            return decode(data)
        except ValueError as exc:
            if str(path) not in self.warned:
                self.warned.add(str(path))
                log.warning("cache: %s: damaged entry ignored and rebuilt (%s)", path, exc)
            if self.writable:
                with contextlib.suppress(OSError):
                    path.unlink()
            return None

    def put(self, kind: str, key: str, value: object) -> None:
        """Write an entry atomically (a temporary file renamed over it)."""
        if self.root is None or not self.writable:
            return
        import tempfile

        path = self._path(kind, key)
        data = encode(value)
        try:
            if path.parent not in self.made:
                path.parent.mkdir(parents=True, exist_ok=True)
                self.made.add(path.parent)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                Path(tmp).replace(path)
            except BaseException:
                with contextlib.suppress(OSError):
                    Path(tmp).unlink()
                raise
        except OSError as exc:
            self._cannot_write(exc)

    @contextlib.contextmanager
    def lock(self, kind: str, key: str) -> Iterator[None]:
        """Hold a lock on one piece of work (building one entry) across processes; without a
        writable cache, hold nothing."""
        if self.root is None or not self.writable:
            yield
            return
        import fcntl

        folder = self.root / FORMAT / "locks"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            handle = (folder / f"{kind}-{key}").open("ab")
        except OSError:
            yield
            return
        with handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


    def prune_if_due(self, limit: int) -> Pruned | None:
        """Bring the cache under ``limit`` bytes when it is over it, at most once a day (the
        time of the last look is a stamp file's); None when it was not looked at."""
        if self.root is None or not self.writable or limit <= 0:
            return None
        stamp = self.root / FORMAT / ".pruned"
        with contextlib.suppress(OSError):
            if time.time() - stamp.stat().st_mtime < PRUNE_EVERY:
                return None
        try:
            stamp.touch()
        except OSError:
            return None  # a cache that cannot be written is not looked at either
        return self.prune(limit)

    def prune(self, limit: int) -> Pruned:
        """Remove the entries written (or, for whole trees, read) longest ago until the cache
        holds at most ``KEPT`` of ``limit`` bytes, if it holds more than ``limit``; also the
        leftovers of killed runs: temporary files and lock files older than an hour."""
        assert self.root is not None
        now = time.time()
        entries: list[tuple[float, int, Path]] = []
        removed = freed = 0
        for path, stat in _files(self.root / FORMAT):
            name = path.name
            if name.startswith("keywords-") or name == ".pruned":
                continue
            leftover = name.startswith((".tmp-", ".probe-")) or path.parent.name == "locks"
            if leftover:
                if now - stat.st_mtime > STALE and _unlink(path):
                    removed, freed = removed + 1, freed + stat.st_size
                continue
            entries.append((stat.st_mtime, stat.st_size, path))
        total = sum(size for _, size, _ in entries)
        if total > limit:
            entries.sort()
            for _, size, path in entries:
                if total <= limit * KEPT:
                    break
                if _unlink(path):
                    total -= size
                    removed, freed = removed + 1, freed + size
        if removed:
            log.info("cache: %s: %d files removed, %d bytes freed; %d bytes kept", self.root,
                     removed, freed, total)
        return Pruned(removed, freed, total)


@dataclass(frozen=True, slots=True)
class Pruned:
    """What a look at the cache's size did: files removed, bytes freed, bytes kept."""

    removed: int
    freed: int
    kept: int


def _files(folder: Path) -> Iterator[tuple[Path, os.stat_result]]:
    """Yield the files below a folder with their status (none when it cannot be read)."""
    for top, _dirs, names in os.walk(folder):
        for name in names:
            path = Path(top) / name
            with contextlib.suppress(OSError):
                yield path, path.stat()


def _unlink(path: Path) -> bool:
    """Remove a file; tell whether it went."""
    try:
        path.unlink()
    except OSError:
        return False
    return True


NO_CACHE = Cache(None, writable=False)
