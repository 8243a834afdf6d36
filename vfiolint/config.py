"""Project configuration: ``[tool.vfiolint]`` in pyproject.toml, or ``.vfiolint.toml``.

```toml
[tool.vfiolint]                     # in .vfiolint.toml the table is the whole file
select = ["VFIO001", "VFIO002"]     # rules to run (default: all)
ignore = ["VFIO005"]                # rules to skip
exclude = ["tests/**"]              # paths never checked (fnmatch globs)
[tool.vfiolint.per-path-ignore]
"lib/eal/windows/**" = ["VFIO003"]  # rules skipped under a path
[tool.vfiolint.macros]              # macro shapes the C pre-pass neutralises
for-each = ["MY_LIST_FOREACH"]
attribute = ["__my_packed"]
statement = ["MY_EXPORT_SYMBOL"]
typename = ["my_handle_t"]
```
One frozen Config is built at start and passed down.
"""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from vfiolint.errors import VfiolintError

MACRO_KINDS = ("for-each", "attribute", "statement", "typename")
KEYS = {"select", "ignore", "exclude", "per-path-ignore", "macros"}


class ConfigError(VfiolintError):
    """A configuration file that cannot be used."""


@dataclass(frozen=True, slots=True)
class Config:
    """What the user configured; the defaults check everything with every rule."""

    select: frozenset[str] | None = None
    ignore: frozenset[str] = frozenset()
    exclude: tuple[str, ...] = ()
    per_path_ignore: tuple[tuple[str, frozenset[str]], ...] = ()
    macros: tuple[tuple[str, tuple[str, ...]], ...] = ()
    source: Path | None = field(default=None, compare=False)
    # The repository whose .clang-format adds macro names (--git/--staged): not a file key.
    repo: Path | None = None

    def excluded(self, path: str) -> bool:
        """Tell whether a path is excluded from checking."""
        return any(fnmatch.fnmatch(path, glob) for glob in self.exclude)

    def ignored_here(self, rule_id: str, name: str, path: str) -> bool:
        """Tell whether a rule is switched off for a path."""
        return any(fnmatch.fnmatch(path, glob) and (rule_id in ids or name in ids)
                   for glob, ids in self.per_path_ignore)

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
        source=Path(where),
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
