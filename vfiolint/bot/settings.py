"""The bot's configuration file: the list, the archive policy, the tree, the rules, the reply
policy, SMTP, the records, the polling.

```toml
[list]
name = "kvm"
address = "kvm@vger.kernel.org"
[archive]
start = "beginning"         # or "end": a first run skips what the archive already holds
max-age = "14d"             # older messages (Date header) are recorded, never checked; 0: none
[tree]
repo = "/srv/git/linux"
branch = "vfio/next"
[rules]                     # the keys of [tool.vfiolint]: select, ignore, exclude, ...
ignore = ["VFIO005"]
[series]
wait = "6h"                 # an incomplete series is checked, partial, this long after it began
[reply]
from = "vfiolint bot <vfiolint@example.org>"
per = "series"              # or "patch": one reply to each patch with findings
cc-list = false
cc = []
clean = false               # also reply to a series in which nothing was found
target-url = "https://lore.kernel.org/kvm/{msgid}/"
[smtp]
host = "smtp.example.org"
port = 587
starttls = true
user-env = "VFIOLINT_SMTP_USER"
password-env = "VFIOLINT_SMTP_PASSWORD"
retry = "1m"                # first retry after a refusal; doubles up to retry-max
retry-max = "1h"
give-up = "2d"
on-crash = "assume-sent"    # or "resend": a reply whose SMTP transaction a crash interrupted
[records]
dir = "/var/lib/vfiolint/checks"
[poll]
min = "1m"
max = "15m"
```
"""

from __future__ import annotations

import os
import re
import time
import tomllib
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path

from vfiolint.config import Config, ConfigError, parse_config

TABLES = {
    "list": {"name", "address"},
    "archive": {"start", "max-age"},
    "tree": {"repo", "branch"},
    "rules": None,  # checked by vfiolint.config.parse_config
    "series": {"wait"},
    "reply": {"from", "per", "cc-list", "cc", "clean", "target-url"},
    "smtp": {"host", "port", "starttls", "ssl", "user-env", "password-env", "cafile",
             "timeout", "retry", "retry-max", "give-up", "on-crash"},
    "records": {"dir"},
    "poll": {"min", "max"},
}
DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
CLOCK_OFFSET_ENV = "VFIOLINT_BOT_CLOCK_OFFSET"
USER_ENV, PASSWORD_ENV = "VFIOLINT_SMTP_USER", "VFIOLINT_SMTP_PASSWORD"
SENDER = "vfiolint <vfiolint@localhost>"


@dataclass(frozen=True, slots=True)
class Tree:
    """The project's tree a series is meant to apply to: a repository and its branch."""

    repo: Path
    branch: str


@dataclass(frozen=True, slots=True)
class Smtp:
    """How to reach the mail server; the login comes from the environment."""

    host: str
    port: int = 587
    starttls: bool = True
    ssl: bool = False
    user_env: str = USER_ENV
    password_env: str = PASSWORD_ENV
    cafile: Path | None = None
    timeout: float = 60.0
    retry: float = 60.0
    retry_max: float = 3600.0
    give_up: float = 2 * 86400.0
    on_crash: str = "assume-sent"

    def login(self) -> tuple[str, str] | None:
        """Return the user and password from the environment, or None to send without."""
        user = os.environ.get(self.user_env)
        password = os.environ.get(self.password_env)
        return (user, password) if user and password is not None else None


@dataclass(frozen=True, slots=True)
class Reply:
    """Who replies, to whom, and when."""

    sender: str = SENDER
    per: str = "series"
    cc_list: bool = False
    cc: tuple[str, ...] = ()
    clean: bool = False
    target_url: str | None = None

    @property
    def domain(self) -> str:
        """Return the domain for the Message-IDs of replies: the sender's."""
        return parseaddr(self.sender)[1].rpartition("@")[2] or "localhost"


@dataclass(frozen=True, slots=True)
class Settings:
    """The whole configuration of one bot."""

    list_name: str = "list"
    list_address: str | None = None
    start: str = "beginning"
    max_age: float = 14 * 86400.0
    tree: Tree | None = None
    rules: Config = field(default_factory=Config)
    wait: float = 6 * 3600.0
    reply: Reply = field(default_factory=Reply)
    smtp: Smtp | None = None
    records: Path | None = None
    poll_min: float = 60.0
    poll_max: float = 900.0
    source: Path | None = None


def duration(value: object, where: str) -> float:
    """Read a duration: seconds as a number, or a string such as ``90s``, ``10m``, ``6h``, ``2d``."""
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected a duration such as '6h', got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        m = DURATION_RE.match(str(value))
        if not m:
            raise ConfigError(f"{where}: expected a duration such as '6h', got {value!r}")
        seconds = float(m.group(1)) * UNITS[m.group(2)]
    if seconds < 0:
        raise ConfigError(f"{where}: a duration cannot be negative")
    return seconds


def _table(data: dict[str, object], name: str, where: str) -> dict[str, object]:
    """Return one table of the file, refusing unknown keys."""
    table = data.get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: [{name}] must be a table")
    known = TABLES[name]
    if known is not None:
        unknown = sorted(set(table) - known)
        if unknown:
            raise ConfigError(f"{where}: unknown key '{unknown[0]}' in [{name}]")
    return table


def _text(table: dict[str, object], key: str, where: str, default: str | None = None
          ) -> str | None:
    """Read a string value."""
    value = table.get(key, default)
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{where}: '{key}' must be a string")
    return value


def _flag(table: dict[str, object], key: str, where: str, default: bool) -> bool:
    """Read a boolean value."""
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: '{key}' must be true or false")
    return value


def _choice(table: dict[str, object], key: str, where: str, choices: tuple[str, ...]) -> str:
    """Read a string that must be one of a few words (the first is the default)."""
    value = _text(table, key, where, choices[0])
    if value not in choices:
        raise ConfigError(f"{where}: '{key}' must be one of {', '.join(choices)}")
    return value


def _smtp(table: dict[str, object], where: str) -> Smtp | None:
    """Read the [smtp] table; None when no host is set."""
    host = _text(table, "host", where)
    if not host:
        return None
    port = table.get("port", 587)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise ConfigError(f"{where}: 'port' must be a port number")
    cafile = _text(table, "cafile", where)
    return Smtp(
        host=host, port=port, starttls=_flag(table, "starttls", where, True),
        ssl=_flag(table, "ssl", where, False),
        user_env=_text(table, "user-env", where, USER_ENV) or USER_ENV,
        password_env=_text(table, "password-env", where, PASSWORD_ENV) or PASSWORD_ENV,
        cafile=Path(cafile) if cafile else None,
        timeout=duration(table.get("timeout", 60), f"{where}: [smtp] timeout"),
        retry=duration(table.get("retry", 60), f"{where}: [smtp] retry"),
        retry_max=duration(table.get("retry-max", 3600), f"{where}: [smtp] retry-max"),
        give_up=duration(table.get("give-up", "2d"), f"{where}: [smtp] give-up"),
        on_crash=_choice(table, "on-crash", where, ("assume-sent", "resend")),
    )


def parse_settings(data: dict[str, object], where: str) -> Settings:
    """Build Settings from the parsed configuration file."""
    unknown = sorted(set(data) - set(TABLES))
    if unknown:
        raise ConfigError(f"{where}: unknown table [{unknown[0]}]")
    lst, archive = _table(data, "list", where), _table(data, "archive", where)
    tree, reply = _table(data, "tree", where), _table(data, "reply", where)
    poll, series = _table(data, "poll", where), _table(data, "series", where)
    records = _text(_table(data, "records", where), "dir", where)
    repo = _text(tree, "repo", where)
    cc = reply.get("cc", [])
    if not isinstance(cc, list) or not all(isinstance(x, str) for x in cc):
        raise ConfigError(f"{where}: [reply] 'cc' must be a list of addresses")
    target = _text(reply, "target-url", where)
    if target is not None:
        try:
            target.format(msgid="", reply_msgid="", series=0)
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(f"{where}: [reply] target-url: unknown field {exc}; "
                              "use {msgid}, {reply_msgid} or {series}") from exc
    settings = Settings(
        list_name=_text(lst, "name", where, "list") or "list",
        list_address=_text(lst, "address", where),
        start=_choice(archive, "start", where, ("beginning", "end")),
        max_age=duration(archive.get("max-age", "14d"), f"{where}: [archive] max-age"),
        tree=Tree(Path(repo), _text(tree, "branch", where, "HEAD") or "HEAD") if repo else None,
        rules=parse_config(_table(data, "rules", where), f"{where}: [rules]"),
        wait=duration(series.get("wait", "6h"), f"{where}: [series] wait"),
        reply=Reply(
            sender=_text(reply, "from", where, SENDER) or SENDER,
            per=_choice(reply, "per", where, ("series", "patch")),
            cc_list=_flag(reply, "cc-list", where, False), cc=tuple(cc),
            clean=_flag(reply, "clean", where, False), target_url=target),
        smtp=_smtp(_table(data, "smtp", where), where),
        records=Path(records) if records else None,
        poll_min=duration(poll.get("min", "1m"), f"{where}: [poll] min"),
        poll_max=duration(poll.get("max", "15m"), f"{where}: [poll] max"),
        source=Path(where),
    )
    if settings.reply.cc_list and not settings.list_address:
        raise ConfigError(f"{where}: [reply] cc-list needs [list] address")
    if "@" not in parseaddr(settings.reply.sender)[1]:
        raise ConfigError(f"{where}: [reply] from: not an address: {settings.reply.sender!r}")
    return settings


def load_settings(path: Path | None) -> Settings:
    """Load the bot's configuration file; None gives the defaults."""
    if path is None:
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return parse_settings(data, str(path))


@dataclass(frozen=True, slots=True)
class Clock:
    """The bot's idea of now: the wall clock plus an offset (``VFIOLINT_BOT_CLOCK_OFFSET``
    seconds), so a test or a replay can step past a wait without sleeping through it."""

    offset: float = 0.0

    def now(self) -> float:
        """Return the current time in seconds since the epoch."""
        return time.time() + self.offset

    @classmethod
    def from_environment(cls) -> Clock:
        """Read the offset from the environment."""
        value = os.environ.get(CLOCK_OFFSET_ENV, "").strip()
        if not value:
            return cls()
        try:
            return cls(duration(value, CLOCK_OFFSET_ENV))
        except ConfigError:
            try:
                return cls(float(value))  # a negative offset, for a replay
            except ValueError as exc:
                raise ConfigError(f"{CLOCK_OFFSET_ENV}: not a number of seconds: "
                                  f"{value!r}") from exc
