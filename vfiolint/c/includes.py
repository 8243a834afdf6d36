"""Where an ``#include`` leads inside a tree: the repository's include path.

The include path is the one ``compile_commands.json`` gives the file (``-I``, ``-iquote``,
``-isystem``, ``-idirafter``) when the tree holds that file at its top or in ``build/``; else
the usual header directories of C projects: ``include/`` and ``include/uapi/`` at the top and
under ``arch/*/``, ``linux-headers/`` (QEMU), ``lib/*/include`` and the ``lib/*/`` folders that
hold ``rte_*.h`` headers (DPDK), ``lib/`` and ``src/``. A quoted include is looked for in the
including file's folder first, as the compiler does. Without a compilation database, a name
that several of the usual folders hold (DPDK's per-architecture ``rte_spinlock.h``) is left
unresolved rather than guessed; a name none holds is looked for in the folders above the
including file (a driver built with ``-Idrivers/bus/pci`` including ``"private.h"`` from
``linux/``), then taken when exactly one file of the tree ends with it.
"""

from __future__ import annotations

import json
import posixpath
import shlex
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator

_FLAGS = ("-I", "-iquote", "-isystem", "-idirafter")
_TOP_DIRS = ("include", "include/uapi", "linux-headers", "lib", "src")


def _norm(path: str) -> str | None:
    """Normalise a relative path; None when it leaves the tree."""
    out = posixpath.normpath(path)
    if out.startswith("../") or out == ".." or out.startswith("/"):
        return None
    return "" if out == "." else out


class IncludePath:
    """How the files of one tree include each other."""

    def __init__(self, paths: Iterable[str], compile_commands: bytes | None = None) -> None:
        self.paths = frozenset(paths)
        self.by_name: defaultdict[str, list[str]] = defaultdict(list)
        for path in sorted(self.paths):
            self.by_name[posixpath.basename(path)].append(path)
        self.folders = Counter(posixpath.dirname(p) for p in self.paths)  # files per folder
        self.rte = Counter(posixpath.dirname(p) for p in self.paths if _rte_header(p))
        self.dirs = self._default_dirs()
        self.dir_order = {d: i for i, d in enumerate(self.dirs)}
        self.compile_commands = compile_commands
        self.per_file = _compile_commands(compile_commands, self.paths) if compile_commands \
            else {}

    def successor(self, added: Iterable[str], removed: Iterable[str]) -> IncludePath:
        """Return the include path of the tree whose C files are this one's with some added
        and some taken away: the same as one made from the new files, with only what they
        touch made again (without a compilation database, which is read whole)."""
        gone, new = frozenset(removed) & self.paths, frozenset(added) - self.paths
        if self.compile_commands is not None:
            return IncludePath((self.paths - gone) | new, self.compile_commands)
        out = object.__new__(IncludePath)
        out.paths = (self.paths - gone) | new
        out.by_name = defaultdict(list, self.by_name)
        for name in {posixpath.basename(p) for p in gone | new}:
            kept = sorted([p for p in out.by_name.get(name, ()) if p not in gone] +
                          [p for p in new if posixpath.basename(p) == name])
            if kept:
                out.by_name[name] = kept
            else:
                out.by_name.pop(name, None)
        out.folders, out.rte = Counter(self.folders), Counter(self.rte)
        for path, step in [(p, -1) for p in gone] + [(p, 1) for p in new]:
            out.folders[posixpath.dirname(path)] += step
            if _rte_header(path):
                out.rte[posixpath.dirname(path)] += step
        out.folders, out.rte = +out.folders, +out.rte  # folders left empty go
        same = out.folders.keys() == self.folders.keys() and out.rte.keys() == self.rte.keys()
        out.dirs = self.dirs if same else out._default_dirs()
        out.dir_order = self.dir_order if same else {d: i for i, d in enumerate(out.dirs)}
        out.compile_commands, out.per_file = None, {}
        return out

    def _default_dirs(self) -> tuple[str, ...]:
        """The usual header directories this tree has."""
        folders = self.folders.keys()
        found = [d for d in _TOP_DIRS if d in folders or any(
            f.startswith(d + "/") for f in folders)]
        for folder in sorted(folders):
            parts = folder.split("/")
            arch = len(parts) >= 3 and parts[0] == "arch" and parts[2] == "include"
            if arch or (len(parts) >= 2 and parts[0] == "lib" and parts[-1] == "include"):
                found.append(folder)
        return tuple(dict.fromkeys(found + sorted(self.rte)))

    def resolve(self, name: str, near: str, quoted: bool) -> str | None:
        """Return the tree path an ``#include`` of ``name`` in file ``near`` reaches, None
        when the tree has no such file or several equally likely ones."""
        folder = posixpath.dirname(near)
        if quoted:
            own = _norm(posixpath.join(folder, name))
            if own is not None and own in self.paths:
                return own
        configured = self.per_file.get(near)
        if configured is not None:  # the compiler's own search order
            return next(self._in(configured, name), None)
        found = self._in_dirs(name)
        if found:
            return found[0] if len(found) == 1 else None  # per-arch headers: not guessed
        parents = []
        while folder:
            folder = posixpath.dirname(folder)
            parents.append(folder)
        return next(self._in(parents, name), None) or self._unique_suffix(name)

    def _in_dirs(self, name: str) -> list[str]:
        """Return the tree paths ``name`` reaches from the usual folders (from the files that
        end with it, not by trying every folder)."""
        clean = _norm(name)
        if not clean:
            return []
        found = []
        for path in self.by_name.get(posixpath.basename(clean), ()):
            if path == clean or path.endswith("/" + clean):
                folder = path[:len(path) - len(clean)].rstrip("/")
                if folder in self.dir_order:
                    found.append((self.dir_order[folder], path))
        return [path for _, path in sorted(found)]

    def _in(self, folders: Iterable[str], name: str) -> Iterator[str]:
        """Yield the tree paths ``name`` reaches from some folders, in their order."""
        for folder in folders:
            candidate = _norm(posixpath.join(folder, name))
            if candidate is not None and candidate in self.paths:
                yield candidate

    def _unique_suffix(self, name: str) -> str | None:
        """Return the one tree path that ends with the included name, if only one does."""
        clean = _norm(name)
        if not clean:
            return None
        found = [p for p in self.by_name.get(posixpath.basename(clean), ())
                 if p == clean or p.endswith("/" + clean)]
        return found[0] if len(found) == 1 else None


def _rte_header(path: str) -> bool:
    """Tell whether a path is a DPDK library header (``lib/*/rte_*.h``), whose folder is on
    the usual include path."""
    return path.startswith("lib/") and posixpath.basename(path).startswith("rte_") and \
        path.endswith(".h")


def _compile_commands(data: bytes, paths: frozenset[str]) -> dict[str, tuple[str, ...]]:
    """Read each file's include directories from a compilation database, as tree paths.

    The database names absolute paths of the machine it was made on; the tree's top there is
    found from a file of the database that the tree holds (its absolute path minus the tree
    path)."""
    try:
        entries = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return {}
    if not isinstance(entries, list):
        return {}
    out: dict[str, tuple[str, ...]] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        directory = str(entry.get("directory", ""))
        file = posixpath.join(directory, str(entry.get("file", "")))
        top = _top_of(posixpath.normpath(file), paths)
        if top is None:
            continue
        rel_file = posixpath.normpath(file)[len(top):].lstrip("/")
        words = entry.get("arguments") or shlex.split(str(entry.get("command", "")))
        dirs = []
        for folder in _include_flags([str(w) for w in words]):
            absolute = posixpath.normpath(posixpath.join(directory, folder))
            if absolute == top or absolute.startswith(top.rstrip("/") + "/"):
                rel = _norm(absolute[len(top):].lstrip("/") or ".")
                if rel is not None:
                    dirs.append(rel)
        out[rel_file] = tuple(dirs)
    return out


def _top_of(absolute: str, paths: frozenset[str]) -> str | None:
    """Return the tree's top on the database's machine, from one file's absolute path."""
    parts = absolute.split("/")
    for i in range(1, len(parts)):
        if "/".join(parts[i:]) in paths:
            return "/".join(parts[:i]) or "/"
    return None


def _include_flags(words: list[str]) -> Iterable[str]:
    """Yield the directories of a command line's include flags, in order."""
    i = 0
    while i < len(words):
        word = words[i]
        for flag in _FLAGS:
            if word == flag and i + 1 < len(words):
                yield words[i + 1]
                i += 1
                break
            if word.startswith(flag) and len(word) > len(flag):
                yield word[len(flag):]
                break
        i += 1
