"""Mail delivery: SMTP against a real server on loopback (aiosmtpd), the Maildir, and the
SMTP URL setting."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from catalogue.errors import ConfigurationError
from catalogue.mail import (
    DeliveryError,
    Mail,
    MaildirMailer,
    SmtpMailer,
    SmtpSettings,
    parse_smtp_url,
)

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

SENDER = "catalogue@example.org"
WHEN = datetime(2026, 11, 24, 8, 30, 15, tzinfo=UTC)


# -- a real SMTP server on loopback ---------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One message as the server took it: the envelope and the parsed message."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])


@dataclass
class RecordingHandler:
    """Accepts mail and keeps it; refuses recipients or data with configured replies."""

    #: Recipient address → the reply to its RCPT (e.g. "550 5.1.1 no such user").
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    #: The reply to DATA instead of accepting it.
    data_reply: str | None = None
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook name)
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        reply = self.rcpt_replies.get(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        if self.data_reply is not None:
            return self.data_reply
        # As a mail client reads it: line ends of the wire (CRLF) back to newlines.
        content = envelope.content.replace(b"\r\n", b"\n")
        message = BytesParser(policy=policy.default).parsebytes(content)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.received.append(Received(envelope.mail_from, tuple(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def messages(self) -> list[Received]:
        with self.lock:
            return list(self.received)

    def message_ids(self) -> list[str]:
        return [r.message_id for r in self.messages()]


@dataclass
class SmtpServer:
    """An aiosmtpd server running in its own thread."""

    handler: RecordingHandler
    controller: Controller
    port: int
    logins: list[tuple[str, str]]

    def url(self, userinfo: str = "") -> str:
        return f"smtp://{userinfo}127.0.0.1:{self.port}"

    def mailer(self, userinfo: str = "") -> SmtpMailer:
        return SmtpMailer(parse_smtp_url(self.url(userinfo)), timeout=10)


def free_port() -> int:
    """A loopback port nothing listens on (just now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_smtp_server(credentials: tuple[str, str] | None = None) -> SmtpServer:
    """Start a server on loopback; with `credentials`, AUTH (without TLS) is required."""
    handler = RecordingHandler()
    logins: list[tuple[str, str]] = []
    options: dict[str, Any] = {}
    if credentials is not None:

        def authenticate(
            server: Any, session: Any, envelope: Any, mechanism: str, data: Any
        ) -> AuthResult:
            if not isinstance(data, LoginPassword):
                return AuthResult(success=False, handled=False)
            given = (data.login.decode(), data.password.decode())
            logins.append(given)
            # handled=False: aiosmtpd itself answers (235, or 535 for a refusal).
            return AuthResult(success=given == credentials, handled=False)

        options = {
            "authenticator": authenticate,
            "auth_required": True,
            "auth_require_tls": False,
            # smtplib's AUTH LOGIN with an initial response stalls aiosmtpd: PLAIN only.
            "auth_exclude_mechanism": ["LOGIN"],
        }
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
    controller.start()
    return SmtpServer(handler, controller, port, logins)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server on loopback that accepts everything (unless told otherwise)."""
    server = start_smtp_server()
    yield server
    server.controller.stop()


def mail(
    recipient: str = "bob@example.org",
    *,
    subject: str = "[MX-2345] Parcel \u201cDewar 1\u201d was received at the stores",
    body: str = "Parcel \u201cDewar 1\u201d of proposal MX-2345 was received.\n",
    message_id: str = "<3f1c0a52-2d4e-4a7b-9d0e-5b1f2c3d4e5f@example.org>",
    date: datetime | None = WHEN,
) -> Mail:
    return Mail(SENDER, recipient, subject, body, message_id, date)


# -- SMTP -------------------------------------------------------------------------------


def test_smtp_delivers_the_message_with_its_headers(smtp_server: SmtpServer) -> None:
    sent = mail()
    smtp_server.mailer().deliver(sent)

    [received] = smtp_server.handler.messages()
    assert received.mail_from == SENDER
    assert received.rcpt_tos == ("bob@example.org",)
    message = received.message
    assert message["From"] == SENDER
    assert message["To"] == "bob@example.org"
    assert message["Subject"] == sent.subject
    assert message["Message-ID"] == sent.message_id
    assert parsedate_to_datetime(str(message["Date"])) == WHEN
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content() == sent.body


def test_smtp_without_a_date_sends_no_date_header(smtp_server: SmtpServer) -> None:
    smtp_server.mailer().deliver(mail(date=None))
    [received] = smtp_server.handler.messages()
    assert received.message["Date"] is None
    assert received.message["Message-ID"] == mail().message_id


def test_smtp_round_trips_utf8_subject_and_body(smtp_server: SmtpServer) -> None:
    subject = "[IN-0042] Colis \u201cDewar \u2116 1\u201d \u2014 re\u00e7u \u00e0 Grenoble \u2713"
    body = (
        "Cr\u00e8me br\u00fbl\u00e9e \u2744 \u0394\u03bb = 0.98 \u00c5\n"
        ".a line starting with a dot\n"
        ".\n"
        "From the stores\n" + "\u00e9" * 1500 + "\n"
        "\u65e5\u672c\u8a9e\n"
    )
    smtp_server.mailer().deliver(mail(subject=subject, body=body))

    [received] = smtp_server.handler.messages()
    assert received.message["Subject"] == subject
    assert received.message.get_content() == body
    assert received.message.get_content_charset() == "utf-8"


@pytest.mark.parametrize("breaker", ["\u2028", "\u2029", "\x85"])
def test_a_subject_with_a_line_separator_is_sent_on_one_line(
    smtp_server: SmtpServer, tmp_path: Path, breaker: str
) -> None:
    # Parcel names may hold these (they are no control characters), but headers may not.
    subject = f"[MX-2345] Parcel \u201cDewar{breaker}A\u201d was sent back"
    smtp_server.mailer().deliver(mail(subject=subject))
    MaildirMailer(tmp_path).deliver(mail(subject=subject))

    [received] = smtp_server.handler.messages()
    assert received.message["Subject"] == "[MX-2345] Parcel \u201cDewar A\u201d was sent back"
    [written] = list((tmp_path / "new").iterdir())
    stored = BytesParser(policy=policy.default).parsebytes(written.read_bytes())
    assert stored["Subject"] == received.message["Subject"]


def test_smtp_sends_several_messages_over_one_connection_with_outcomes(
    smtp_server: SmtpServer,
) -> None:
    smtp_server.handler.rcpt_replies["gone@example.org"] = "550 5.1.1 no such user"
    mails = [
        mail("a@example.org", message_id="<a@example.org>"),
        mail("gone@example.org", message_id="<gone@example.org>"),
        mail("c@example.org", message_id="<c@example.org>"),
    ]
    outcomes = smtp_server.mailer().deliver_many(mails)

    assert outcomes[0] is None
    assert outcomes[2] is None
    refused = outcomes[1]
    assert isinstance(refused, DeliveryError)
    assert refused.permanent
    assert smtp_server.handler.message_ids() == ["<a@example.org>", "<c@example.org>"]


@pytest.mark.parametrize(
    ("where", "reply", "permanent"),
    [
        pytest.param("rcpt", "550 5.1.1 <bob@example.org>: user unknown", True, id="rcpt-550"),
        pytest.param("rcpt", "553 5.1.3 bad address", True, id="rcpt-553"),
        pytest.param("rcpt", "450 4.2.1 mailbox busy, try later", False, id="rcpt-450"),
        pytest.param("rcpt", "421 4.3.2 service shutting down", False, id="rcpt-421"),
        pytest.param("data", "554 5.6.0 message refused", True, id="data-554"),
        pytest.param("data", "451 4.3.0 local error, try later", False, id="data-451"),
    ],
)
def test_smtp_refusals_are_permanent_only_for_5xx(
    smtp_server: SmtpServer, where: str, reply: str, permanent: bool
) -> None:
    if where == "rcpt":
        smtp_server.handler.rcpt_replies["bob@example.org"] = reply
    else:
        smtp_server.handler.data_reply = reply

    with pytest.raises(DeliveryError) as caught:
        smtp_server.mailer().deliver(mail())

    assert caught.value.permanent is permanent
    assert reply[:3] in caught.value.reason
    assert smtp_server.handler.messages() == []


def test_smtp_server_down_is_a_temporary_failure() -> None:
    mailer = SmtpMailer(parse_smtp_url(f"smtp://127.0.0.1:{free_port()}"), timeout=5)
    with pytest.raises(DeliveryError) as caught:
        mailer.deliver(mail())
    assert not caught.value.permanent
    assert "cannot reach" in caught.value.reason


def test_smtp_server_down_fails_every_message_of_a_batch() -> None:
    mailer = SmtpMailer(parse_smtp_url(f"smtp://127.0.0.1:{free_port()}"), timeout=5)
    outcomes = mailer.deliver_many([mail("a@example.org"), mail("b@example.org")])
    assert len(outcomes) == 2
    for outcome in outcomes:
        assert isinstance(outcome, DeliveryError)
        assert not outcome.permanent
        assert "cannot reach" in outcome.reason


PASSWORD = "p@ss:w/rd?#%1"


@pytest.fixture
def auth_server() -> Iterator[SmtpServer]:
    """A server that requires AUTH with user `mailer` and `PASSWORD`."""
    server = start_smtp_server(credentials=("mailer", PASSWORD))
    yield server
    server.controller.stop()


def test_smtp_logs_in_with_the_url_credentials(auth_server: SmtpServer) -> None:
    userinfo = f"mailer:{quote(PASSWORD, safe='')}@"
    auth_server.mailer(userinfo).deliver(mail())

    assert auth_server.logins == [("mailer", PASSWORD)]
    assert auth_server.handler.message_ids() == [mail().message_id]


def test_smtp_wrong_password_is_temporary_and_not_echoed(auth_server: SmtpServer) -> None:
    with pytest.raises(DeliveryError) as caught:
        auth_server.mailer("mailer:not-the-password@").deliver(mail())

    assert not caught.value.permanent
    assert "535" in caught.value.reason
    assert "not-the-password" not in caught.value.reason
    assert auth_server.handler.messages() == []


def test_smtp_without_credentials_on_a_server_requiring_auth_is_temporary(
    auth_server: SmtpServer,
) -> None:
    with pytest.raises(DeliveryError) as caught:
        auth_server.mailer().deliver(mail())
    assert not caught.value.permanent
    assert auth_server.handler.messages() == []


# -- the SMTP URL -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.org", ("mail.example.org", 25, "none", None, None)),
        ("smtp://mail.example.org:2525", ("mail.example.org", 2525, "none", None, None)),
        (
            "smtp://mail.example.org:587?starttls=true",
            ("mail.example.org", 587, "starttls", None, None),
        ),
        ("smtp://mail.example.org?starttls=1", ("mail.example.org", 25, "starttls", None, None)),
        ("smtp://mail.example.org?starttls=false", ("mail.example.org", 25, "none", None, None)),
        ("smtp://mail.example.org?starttls=YES", ("mail.example.org", 25, "starttls", None, None)),
        ("smtp://mail.example.org?starttls=no", ("mail.example.org", 25, "none", None, None)),
        ("smtps://mail.example.org", ("mail.example.org", 465, "ssl", None, None)),
        ("smtps://u:p@mail.example.org:4650", ("mail.example.org", 4650, "ssl", "u", "p")),
        ("smtp://bob@127.0.0.1:1025", ("127.0.0.1", 1025, "none", "bob", None)),
        (
            "smtp://us%40er:p%40ss%3Aw%2Frd@mail.example.org",
            ("mail.example.org", 25, "none", "us@er", "p@ss:w/rd"),
        ),
        ("smtp://[::1]:2525", ("::1", 2525, "none", None, None)),
    ],
)
def test_parse_smtp_url_accepts(url: str, expected: tuple[Any, ...]) -> None:
    settings = parse_smtp_url(url)
    assert (
        settings.host,
        settings.port,
        settings.security,
        settings.username,
        settings.password,
    ) == expected


SECRET = "hunter2-Secret"


@pytest.mark.parametrize(
    "url",
    [
        pytest.param(f"http://user:{SECRET}@mail.example.org", id="wrong-scheme"),
        pytest.param(f"smtp://user:{SECRET}@", id="no-host"),
        pytest.param(f"smtp://user:{SECRET}@mail.example.org:smtp", id="port-not-a-number"),
        pytest.param(f"smtp://user:{SECRET}@mail.example.org:70000", id="port-out-of-range"),
        pytest.param(f"smtp://user:{SECRET}@[::1", id="broken-ipv6"),
        pytest.param(f"user:{SECRET}@mail.example.org:25", id="no-scheme"),
        pytest.param("", id="empty"),
        pytest.param(f"smtp://user:{SECRET}\u00e9@mail.example.org", id="non-ascii-password"),
        pytest.param(f"smtp://user:{SECRET}@mail.example.org?starttls=ture", id="misspelt-flag"),
        pytest.param(f"smtp://user:{SECRET}@mail.example.org?tls=true", id="unknown-option"),
        pytest.param(f"smtp://user:{SECRET}@mail.example.org:0", id="port-zero"),
    ],
)
def test_parse_smtp_url_refuses_without_repeating_the_password(url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_smtp_url(url)
    error = caught.value
    assert str(error)
    assert SECRET not in str(error)
    assert SECRET not in repr(error)
    # No chained exception (which a traceback would print) carries the URL either.
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__


def test_smtp_settings_repr_hides_the_password() -> None:
    settings = parse_smtp_url(f"smtp://user:{SECRET}@mail.example.org")
    assert isinstance(settings, SmtpSettings)
    assert settings.password == SECRET
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)


# -- the Maildir --------------------------------------------------------------------------


def test_maildir_writes_the_message_in_new_named_by_its_message_id(tmp_path: Path) -> None:
    directory = tmp_path / "mail"
    sent = mail()
    MaildirMailer(directory).deliver(sent)

    files = list((directory / "new").iterdir())
    assert [f.name for f in files] == ["3f1c0a52-2d4e-4a7b-9d0e-5b1f2c3d4e5f@example.org.eml"]
    assert list((directory / "tmp").iterdir()) == []
    assert (directory / "cur").is_dir()
    message = BytesParser(policy=policy.default).parsebytes(files[0].read_bytes())
    assert message["Message-ID"] == sent.message_id
    assert message["From"] == SENDER
    assert message["To"] == "bob@example.org"
    assert message["Subject"] == sent.subject
    assert message["Auto-Submitted"] == "auto-generated"
    assert parsedate_to_datetime(str(message["Date"])) == WHEN
    assert isinstance(message, EmailMessage)
    assert message.get_content() == sent.body


def test_maildir_redelivery_replaces_its_own_file(tmp_path: Path) -> None:
    mailer = MaildirMailer(tmp_path / "mail")
    mailer.deliver(mail(body="first try\n"))
    mailer.deliver(mail(body="second try\n"))
    mailer.deliver(mail("carol@example.org", message_id="<other@example.org>"))

    new = tmp_path / "mail" / "new"
    names = sorted(f.name for f in new.iterdir())
    assert names == [
        "3f1c0a52-2d4e-4a7b-9d0e-5b1f2c3d4e5f@example.org.eml",
        "other@example.org.eml",
    ]
    message = BytesParser(policy=policy.default).parsebytes((new / names[0]).read_bytes())
    assert isinstance(message, EmailMessage)
    assert message.get_content() == "second try\n"
    assert list((tmp_path / "mail" / "tmp").iterdir()) == []


def test_maildir_file_name_cannot_leave_new(tmp_path: Path) -> None:
    MaildirMailer(tmp_path / "mail").deliver(mail(message_id="<../../etc/pass wd@x>"))
    [written] = list((tmp_path / "mail" / "new").iterdir())
    assert written.name == ".._.._etc_pass_wd@x.eml"
    assert sorted(p.name for p in (tmp_path / "mail").iterdir()) == ["cur", "new", "tmp"]


def test_maildir_unwritable_directory_is_a_delivery_error(tmp_path: Path) -> None:
    # A regular file where the directory should be: unwritable even for root.
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    with pytest.raises(DeliveryError) as caught:
        MaildirMailer(blocker / "mail").deliver(mail())
    assert "cannot write to the mail directory" in caught.value.reason
    assert not caught.value.permanent


def test_maildir_new_being_a_file_is_a_delivery_error(tmp_path: Path) -> None:
    directory = tmp_path / "mail"
    directory.mkdir()
    (directory / "new").write_text("")
    with pytest.raises(DeliveryError) as caught:
        MaildirMailer(directory).deliver(mail())
    assert "cannot write to the mail directory" in caught.value.reason
    assert (directory / "new").read_text() == ""
