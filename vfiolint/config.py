"""Project configuration: ``[tool.vfiolint]`` in pyproject.toml, or ``.vfiolint.toml``.

```toml
[tool.vfiolint]                     # in .vfiolint.toml the table is the whole file
select = ["VFIO001", "VFIO002"]     # rules to run (default: all): IDs, any case, or names
ignore = ["VFIO005"]                # rules to skip
exclude = ["tests/**"]              # paths never checked (fnmatch globs, relative to
                                    # the folder of this file)
[tool.vfiolint.per-path-ignore]
"lib/eal/windows/**" = ["VFIO003"]  # rules skipped under a path
[tool.vfiolint.macros]              # macro shapes the C pre-pass neutralises
for-each = ["MY_LIST_FOREACH"]
attribute = ["__my_packed"]
statement = ["MY_EXPORT_SYMBOL"]
typename = ["my_handle_t"]
```
and, at the top level, ``log-functions = ["my_dbg", "MY_TRACE"]``: more functions (or macros)
that only print, so a value that reaches them reaches no hazard (VFIO003's casts in messages).
One frozen Config is built at start and passed down.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from vfiolint.errors import VfiolintError

MACRO_KINDS = ("for-each", "attribute", "statement", "typename")
KEYS = {"select", "ignore", "exclude", "per-path-ignore", "macros", "log-functions"}


class ConfigError(VfiolintError):
    """A configuration file that cannot be used."""


@dataclass(frozen=True, slots=True)
class Config:
    """What the user configured; the defaults check everything with every rule.

    Path patterns are matched against a path relative to ``root``, the configuration file's
    folder, however the path was written: a file named on the command line is relative to
    ``cwd`` (or absolute), a path in a diff is relative to ``tree`` (the repository's top with
    --git/--staged; for a mailed patch, the configuration's folder)."""

    select: frozenset[str] | None = None
    ignore: frozenset[str] = frozenset()
    exclude: tuple[str, ...] = ()
    per_path_ignore: tuple[tuple[str, frozenset[str]], ...] = ()
    macros: tuple[tuple[str, tuple[str, ...]], ...] = ()
    log_functions: frozenset[str] = frozenset()
    source: Path | None = field(default=None, compare=False)
    # The repository whose .clang-format adds macro names (--git/--staged): not a file key.
    repo: Path | None = None
    root: Path | None = None
    cwd: Path | None = None
    tree: Path | None = None
    files: bool = False  # the paths matched are file names (True) or diff paths (False)

    def for_files(self) -> Config:
        """Return this configuration for matching the names of files given as inputs."""
        return replace(self, files=True)

    def relative(self, path: str) -> str:
        """Return a path as the patterns see it: relative to the configuration's folder."""
        if self.root is None:
            return posixpath.normpath(path.replace(os.sep, "/"))
        base = (self.cwd if self.files else self.tree) or self.root
        full = Path(os.path.normpath(base / path))
        real = full.parent.resolve() / full.name  # the folders' links resolved, not the file's
        return Path(os.path.relpath(real, self.root.resolve())).as_posix()

    def excluded(self, path: str) -> bool:
        """Tell whether a path is excluded from checking."""
        if not self.exclude:
            return False
        key = self.relative(path)
        return any(fnmatch.fnmatch(key, glob) for glob in self.exclude)

    def ignored_here(self, rule_id: str, name: str, path: str) -> bool:
        """Tell whether a rule is switched off for a path (``ids`` hold rule IDs once
        ``with_rule_ids`` has run, names before)."""
        if not self.per_path_ignore:
            return False
        key = self.relative(path)
        return any(fnmatch.fnmatch(key, glob) and (rule_id in ids or name in ids)
                   for glob, ids in self.per_path_ignore)

    def with_rule_ids(self, resolve: Callable[[Iterable[str], str], frozenset[str]]
                      ) -> Config:
        """Replace every rule ID or name by its rule's ID; ``resolve(names, where)`` raises
        on a name that is no rule's."""
        where = str(self.source) if self.source else "configuration"
        return replace(
            self,
            select=None if self.select is None else resolve(self.select, f"{where}: select"),
            ignore=resolve(self.ignore, f"{where}: ignore"),
            per_path_ignore=tuple((glob, resolve(ids, f"{where}: per-path-ignore"))
                                  for glob, ids in self.per_path_ignore),
        )


def _strings(table: dict[str, object], key: str, where: str) -> tuple[str, ...]:
    """Read a list of strings."""
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise ConfigError(f"{where}: '{key}' must be a list of strings")
    return tuple(value)


def parse_config(table: dict[str, object], where: str) -> Config:
    """Build a Config from a ``[tool.vfiolint]`` table."""
    unknown = sorted(set(table) - KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key '{unknown[0]}' in [tool.vfiolint]")
    select = _strings(table, "select", where) if "select" in table else None
    per_path = table.get("per-path-ignore", {})
    macros = table.get("macros", {})
    if not isinstance(per_path, dict) or not isinstance(macros, dict):
        raise ConfigError(f"{where}: 'per-path-ignore' and 'macros' must be tables")
    for kind in macros:
        if kind not in MACRO_KINDS:
            raise ConfigError(f"{where}: unknown macro kind '{kind}' "
                              f"(one of {', '.join(MACRO_KINDS)})")
    return Config(
        select=frozenset(select) if select is not None else None,
        ignore=frozenset(_strings(table, "ignore", where)),
        exclude=_strings(table, "exclude", where),
        per_path_ignore=tuple((glob, frozenset(_strings(per_path, glob, where)))
                              for glob in per_path),
        macros=tuple((kind, _strings(macros, kind, where)) for kind in macros),
        log_functions=frozenset(_strings(table, "log-functions", where)),
        source=Path(where),
        root=Path(where).resolve().parent,
    )


def find_config(start: Path) -> Path | None:
    """Find the nearest .vfiolint.toml, or pyproject.toml with [tool.vfiolint], upwards."""
    for folder in [start, *start.parents]:
        dotfile = folder / ".vfiolint.toml"
        if dotfile.is_file():
            return dotfile
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and "[tool.vfiolint" in pyproject.read_text(errors="replace"):
            return pyproject
    return None


def load_config(path: Path | None) -> Config:
    """Load a configuration file; None gives the defaults."""
    if path is None:
        return Config()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    if path.name == "pyproject.toml":
        data = data.get("tool", {}).get("vfiolint", {})
    return parse_config(data, str(path))
