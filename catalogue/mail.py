"""Delivering mail: to an SMTP server, or as files in a Maildir when there is none."""

from __future__ import annotations

import os
import re
import smtplib
import ssl
import tempfile
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from catalogue.errors import ConfigurationError

SMTP_TIMEOUT = 30.0
_BOOLEANS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._@-]")


@dataclass(frozen=True, slots=True)
class Mail:
    """One message to one recipient."""

    sender: str
    recipient: str
    subject: str
    body: str
    #: Stable per (event, recipient): a retried delivery carries the same id, so mail
    #: clients (and the Maildir) show it once.
    message_id: str
    date: datetime | None = None

    def as_message(self) -> EmailMessage:
        """The RFC 5322 message."""
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = self.recipient
        # One line: names may hold U+2028 or NEL, which the header would refuse (ValueError).
        message["Subject"] = " ".join(self.subject.splitlines())
        message["Message-ID"] = self.message_id
        if self.date is not None:
            message["Date"] = format_datetime(self.date)
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(self.body)
        return message


class DeliveryError(Exception):
    """A delivery failed; `permanent` when retrying cannot help (the server refused it)."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class Mailer(Protocol):
    """Something that delivers mail."""

    def deliver(self, mail: Mail) -> None:
        """Deliver one message, or raise `DeliveryError`."""


class MaildirMailer:
    """Writes each message as a file in a Maildir (`new/`), named by its Message-ID.

    Written through `tmp/` and renamed, so a reader never sees half a message; the same
    message delivered twice replaces its own file, so a retry after a crash shows once.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def deliver(self, mail: Mail) -> None:
        """Write the message into `new/`."""
        new = self.directory / "new"
        tmp = self.directory / "tmp"
        try:
            for path in (new, tmp, self.directory / "cur"):
                path.mkdir(parents=True, exist_ok=True)
            name = _UNSAFE_FILENAME.sub("_", mail.message_id.strip("<>")) + ".eml"
            handle, temporary = tempfile.mkstemp(dir=tmp, prefix=".", suffix=".eml")
            try:
                with os.fdopen(handle, "wb") as file:
                    file.write(mail.as_message().as_bytes())
                    file.flush()
                    os.fsync(file.fileno())
                os.replace(temporary, new / name)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as error:
            raise DeliveryError(f"cannot write to the mail directory: {error.strerror}") from None


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """Where an SMTP server is and how to talk to it (parsed from `CATALOGUE_SMTP_URL`)."""

    host: str
    port: int
    #: `ssl` (implicit TLS, smtps://), `starttls`, or `none`.
    security: str
    username: str | None
    password: str | None

    def __repr__(self) -> str:
        # Never show the password, in logs or tracebacks.
        return f"SmtpSettings(host={self.host!r}, port={self.port}, security={self.security!r})"


def parse_smtp_url(url: str) -> SmtpSettings:
    """`smtp://[user:password@]host[:port][?starttls=true]` or `smtps://…`; else a one-line
    configuration error (which never repeats the password)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ConfigurationError("smtp_url is not a URL (smtp://host:port)") from None
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ConfigurationError("smtp_url must be smtp://host[:port] or smtps://host[:port]")
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - {"starttls"})
    if unknown:
        raise ConfigurationError(f"smtp_url: unknown option {unknown[0]!r} (only starttls)")
    flag = query.get("starttls", ["false"])[-1].lower()
    if flag not in _BOOLEANS:
        # A misspelt "true" must not quietly send mail and passwords in clear text.
        raise ConfigurationError(f"smtp_url: starttls must be true or false, not {flag[:20]!r}")
    starttls = _BOOLEANS[flag]
    if port == 0:
        raise ConfigurationError("smtp_url: port 0 is not a server's port")
    security = "ssl" if parts.scheme == "smtps" else ("starttls" if starttls else "none")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    if not (username or "").isascii() or not (password or "").isascii():
        # smtplib's AUTH encodes them as ASCII: it would fail every delivery with an
        # exception that is no `DeliveryError`.
        raise ConfigurationError("smtp_url: the user name and password must be ASCII")
    return SmtpSettings(
        host=parts.hostname,
        port=port or (465 if parts.scheme == "smtps" else 25),
        security=security,
        username=username,
        password=password,
    )


class SmtpMailer:
    """Delivers through an SMTP server: `deliver` one message a connection, `deliver_many`
    a batch over one."""

    def __init__(self, settings: SmtpSettings, timeout: float = SMTP_TIMEOUT) -> None:
        self.settings = settings
        self.timeout = timeout

    def deliver(self, mail: Mail) -> None:
        """Send one message."""
        self.deliver_many([mail])

    def deliver_many(self, mails: list[Mail]) -> list[DeliveryError | None]:
        """Send messages over one connection; the outcome of each, in order."""
        outcomes: list[DeliveryError | None] = []
        try:
            with self._connect() as client:
                for mail in mails:
                    outcomes.append(self._send(client, mail))
        except (smtplib.SMTPException, OSError) as error:
            failure = _delivery_error(error)
            outcomes.extend([failure] * (len(mails) - len(outcomes)))
        if len(mails) == 1 and outcomes[0] is not None:
            raise outcomes[0]
        return outcomes

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        client: smtplib.SMTP
        if s.security == "ssl":
            context = ssl.create_default_context()
            client = smtplib.SMTP_SSL(s.host, s.port, timeout=self.timeout, context=context)
        else:
            client = smtplib.SMTP(s.host, s.port, timeout=self.timeout)
        try:
            if s.security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if s.username is not None:
                client.login(s.username, s.password or "")
        except BaseException:
            client.close()  # a refused STARTTLS or login must not leak the connection
            raise
        return client

    @staticmethod
    def _send(client: smtplib.SMTP, mail: Mail) -> DeliveryError | None:
        try:
            client.send_message(mail.as_message())
        except smtplib.SMTPServerDisconnected:
            raise
        except smtplib.SMTPException as error:
            return _delivery_error(error)
        return None


def _delivery_error(error: Exception) -> DeliveryError:
    """What went wrong, in one line. Only the server's 5xx refusal of this message (its
    recipient or its content) is permanent: a refused login or a lost connection is the
    service's problem, and its mail waits until that is fixed."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _ in error.recipients.values()})
        permanent = bool(codes) and all(code >= 500 for code in codes)
        return DeliveryError(f"SMTP refused the recipient ({codes})", permanent=permanent)
    if isinstance(error, smtplib.SMTPResponseException):
        raw = error.smtp_error
        text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
        permanent = isinstance(error, smtplib.SMTPDataError) and error.smtp_code >= 500
        return DeliveryError(f"SMTP {error.smtp_code}: {text[:200]}", permanent=permanent)
    if isinstance(error, OSError):
        return DeliveryError(f"cannot reach the SMTP server: {error.strerror or error}")
    return DeliveryError(f"SMTP error: {str(error)[:200]}")
