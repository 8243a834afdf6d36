"""Getting a reply out: through SMTP, or as ``.eml`` files for a dry run.

An SMTP transaction is cut where it matters for exactly-once delivery. Until the DATA command,
nothing can be delivered, so any failure there is a plain retry. Just before DATA the caller
records the reply as ``sending`` (the ``committing`` callback); a definite answer after it
(250, 4xx, 5xx) settles the reply, while a connection lost during DATA leaves it
``uncertain``: the server may have taken the message, and the caller never sends it again
unless configured to (``on-crash = "resend"``). A file needs no such care: writing the same
``<seq>.eml`` again is harmless, and whether it exists says whether it was written.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from vfiolint.bot.settings import Smtp
from vfiolint.bot.state import Reply

# For tests only: "after-smtp" kills the process with SIGKILL right after a reply's SMTP
# transaction (or file write) succeeded, before the state records it.
CRASH_ENV = "VFIOLINT_BOT_TEST_CRASH"
EOL_RE = re.compile(rb"\r?\n")


class Result(StrEnum):
    """How an attempt to deliver a reply ended."""

    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"
    UNCERTAIN = "uncertain"


@dataclass(frozen=True, slots=True)
class Attempt:
    """The result of one delivery attempt, with the server's words."""

    result: Result
    detail: str = ""


class Delivery(Protocol):
    """A way to deliver replies."""

    def send(self, reply: Reply, committing: Callable[[], None]) -> Attempt:
        """Deliver one reply, calling ``committing`` at the point of no return."""

    def settle(self, reply: Reply) -> bool | None:
        """Tell whether a reply a crash left ``sending`` was delivered (None: cannot know)."""

    def close(self) -> None:
        """Release connections."""


def _crash_point() -> None:
    """Die here if a test asked for it."""
    if os.environ.get(CRASH_ENV) == "after-smtp":
        os.kill(os.getpid(), signal.SIGKILL)


def _answer(code: int, text: bytes | str) -> Attempt:
    """Judge an SMTP reply code: 2xx sent, 4xx retry later, anything else failed."""
    words = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    detail = f"{code} {' '.join(words.split())}".strip()
    if 200 <= code < 300:
        return Attempt(Result.SENT, detail)
    if 400 <= code < 500 or code < 0:
        return Attempt(Result.RETRY, detail)
    return Attempt(Result.FAILED, detail)


def _error(exc: BaseException) -> str:
    """Describe a connection failure in one line."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return _answer(exc.smtp_code, exc.smtp_error).detail
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class SmtpDelivery:
    """Replies through an SMTP server: one connection per run, STARTTLS, login from the
    environment."""

    def __init__(self, conf: Smtp) -> None:
        self.conf = conf
        self.conn: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        """Open (or reuse) the connection."""
        if self.conn is not None:
            return self.conn
        conf = self.conf
        context = ssl.create_default_context(cafile=str(conf.cafile) if conf.cafile else None)
        conn: smtplib.SMTP
        if conf.ssl:
            conn = smtplib.SMTP_SSL(conf.host, conf.port, timeout=conf.timeout, context=context)
        else:
            conn = smtplib.SMTP(conf.host, conf.port, timeout=conf.timeout)
        try:
            conn.ehlo()
            if conf.starttls and not conf.ssl:
                conn.starttls(context=context)
                conn.ehlo()
            login = conf.login()
            if login is not None:
                conn.login(*login)
        except BaseException:
            conn.close()
            raise
        self.conn = conn
        return conn

    def _drop(self) -> None:
        """Forget a connection that failed."""
        if self.conn is not None:
            try:
                self.conn.close()
            finally:
                self.conn = None

    def _envelope(self, conn: smtplib.SMTP, reply: Reply) -> Attempt | None:
        """Send MAIL FROM and RCPT TO; return an Attempt if the reply cannot go on."""
        options = ["BODY=8BITMIME"] if conn.has_extn("8bitmime") and not reply.raw.isascii() \
            else []
        code, text = conn.mail(reply.sender, options)
        if code != 250:
            conn.rset()
            return _answer(code, text)
        refusals = []
        for recipient in reply.recipients:
            code, text = conn.rcpt(recipient)
            if code not in (250, 251):
                refusals.append(_answer(code, text))
        if len(refusals) == len(reply.recipients):
            conn.rset()
            retry = [a for a in refusals if a.result is Result.RETRY]
            return retry[0] if retry else refusals[0]
        return None

    def send(self, reply: Reply, committing: Callable[[], None]) -> Attempt:
        """Deliver one reply; see the module documentation for where it can fail."""
        try:
            conn = self._connect()
            refused = self._envelope(conn, reply)
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()
            return Attempt(Result.RETRY, _error(exc))
        if refused is not None:
            return refused
        committing()
        try:
            code, text = conn.data(on_the_wire(reply.raw))
        except smtplib.SMTPDataError as exc:  # DATA itself refused: nothing was sent
            conn.rset()
            return _answer(exc.smtp_code, exc.smtp_error)
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()
            return Attempt(Result.UNCERTAIN, _error(exc))
        _crash_point()
        return _answer(code, text)

    def settle(self, reply: Reply) -> bool | None:
        """An SMTP server cannot be asked what it received."""
        return None

    def close(self) -> None:
        """Say goodbye to the server."""
        if self.conn is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self.conn.quit()
            self.conn = None


class FileDelivery:
    """Replies written as ``DIR/<n>.eml`` (``--dry-run DIR``), ``n`` the reply's number."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, reply: Reply) -> Path:
        """Return where a reply is written."""
        return self.folder / f"{reply.seq}.eml"

    def send(self, reply: Reply, committing: Callable[[], None]) -> Attempt:
        """Write one reply (atomically: a file is there whole or not at all)."""
        committing()
        target = self.path(reply)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_atomically(target, reply.raw)
        except OSError as exc:
            return Attempt(Result.RETRY, f"{target}: {exc.strerror or exc}")
        _crash_point()
        return Attempt(Result.SENT, str(target))

    def settle(self, reply: Reply) -> bool | None:
        """A reply was written if its file holds its Message-ID."""
        try:
            return f"<{reply.message_id}>".encode() in self.path(reply).read_bytes()
        except OSError:
            return False

    def close(self) -> None:
        """Nothing to release."""


def on_the_wire(raw: bytes) -> bytes:
    """Give a message CRLF line ends, as SMTP wants them (smtplib converts only text)."""
    return EOL_RE.sub(b"\r\n", raw)


def write_atomically(path: Path, data: bytes) -> None:
    """Write a file through a temporary name and a rename, synced to disk."""
    part = path.with_name(f".{path.name}.part")
    with part.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    part.replace(path)
