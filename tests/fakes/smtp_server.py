"""A real SMTP server on 127.0.0.1 for channel tests: aiosmtpd in its own thread and event loop.

Plain, STARTTLS or implicit TLS with a certificate made at runtime, AUTH PLAIN/LOGIN with one user,
every received message kept (envelope and parsed), TCP connections counted, and faults on demand:
addresses answered 550 or 451, a run of 451s, a seeded 451 rate, a delay before each 250, a limit of
messages per connection (then 421), and dropping every open connection (a server's idle timeout).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import ipaddress
import random
import ssl
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["PASSWORD", "USER", "FakeSmtpServer", "Faults", "ReceivedMail", "TlsFiles", "make_certificate"]

USER = "touchflow"
PASSWORD = "s3cret-触达"


@dataclass(frozen=True)
class TlsFiles:
    cert: str
    key: str


def make_certificate(directory: Path) -> TlsFiles:
    """A self-signed certificate for localhost and 127.0.0.1 (EC P-256: fast to make).

    Fixed validity 2000–2099 so nothing here reads the clock; OpenSSL checks it against real time.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "touchflow test SMTP")])
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime(2000, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2099, 12, 31, tzinfo=UTC))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    files = TlsFiles(str(directory / "smtp-cert.pem"), str(directory / "smtp-key.pem"))
    Path(files.cert).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    Path(files.key).write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return files


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    message: EmailMessage
    tls: bool
    authenticated: bool


@dataclass
class Faults:
    """Change at any time from the test thread; read under the server's lock."""

    reject: set[str] = field(default_factory=set)  # RCPT → 550 5.1.1
    tempfail: set[str] = field(default_factory=set)  # RCPT → 451 4.3.0
    tempfail_next: int = 0  # the next N RCPTs → 451
    tempfail_rate: float = 0.0  # each RCPT → 451 with this probability (seeded)
    delay_s: float = 0.0  # wait before answering DATA
    messages_per_connection: int | None = None  # then MAIL → 421
    seed: int = 1
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)


class _Handler:
    def __init__(self, server: FakeSmtpServer) -> None:
        self.server = server

    async def handle_MAIL(
        self, smtp: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        s = self.server
        if s.auth and not session.authenticated:
            return "530 5.7.0 Authentication required"
        with s.lock:
            limit = s.faults.messages_per_connection
            count = s.per_connection.get(id(smtp), 0)
        if limit is not None and count >= limit:
            return "421 4.7.0 Too many messages on this connection, closing"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, smtp: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        with self.server.lock:
            f = self.server.faults
            if address in f.reject:
                return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown in virtual mailbox table"
            temporary = (
                address in f.tempfail
                or f.tempfail_next > 0
                or (f.tempfail_rate > 0 and f.rng.random() < f.tempfail_rate)
            )
            if f.tempfail_next > 0:
                f.tempfail_next -= 1
        if temporary:
            return f"451 4.3.0 <{address}>: Temporary lookup failure, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        s = self.server
        with s.lock:
            delay = s.faults.delay_s
        if delay:
            await asyncio.sleep(delay)
        raw = envelope.original_content or b""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        mail = ReceivedMail(
            envelope.mail_from or "",
            tuple(envelope.rcpt_tos),
            raw,
            parsed,
            s.security == "tls" or session.ssl is not None,
            bool(session.authenticated),
        )
        with s.lock:
            s.received.append(mail)
            s.per_connection[id(smtp)] = s.per_connection.get(id(smtp), 0) + 1
        return "250 2.0.0 Ok: queued"


class _Controller(Controller):
    """Counts TCP connections and listens on an ephemeral port (Controller wants a fixed one)."""

    def __init__(self, server: FakeSmtpServer, **kwargs: Any) -> None:
        super().__init__(_Handler(server), hostname="127.0.0.1", port=0, **kwargs)
        self.fake = server

    def factory(self) -> SMTP:
        smtp = SMTP(self.handler, **self.SMTP_kwargs)
        with self.fake.lock:
            self.fake.connections += 1
            self.fake.live.append(smtp)
        return smtp

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]  # aiosmtpd leaves it unannotated


class FakeSmtpServer:
    """``with FakeSmtpServer(...) as server:``; ``server.port``, ``server.received``, ``server.connections``."""

    def __init__(
        self,
        *,
        security: Literal["none", "starttls", "tls"] = "none",
        tls: TlsFiles | None = None,
        auth: bool = False,
        idle_timeout_s: float = 300.0,
    ) -> None:
        if security != "none" and tls is None:
            raise ValueError("STARTTLS and TLS need a certificate")
        self.security = security
        self.auth = auth
        self.lock = threading.Lock()
        self.faults = Faults()
        self.received: list[ReceivedMail] = []
        self.connections = 0
        self.live: list[SMTP] = []
        self.per_connection: dict[int, int] = {}
        context = None
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(tls.cert, tls.key)
        kwargs: dict[str, Any] = {
            "server_hostname": "mx.test.local",
            "timeout": idle_timeout_s,
            "auth_require_tls": security == "starttls",
        }
        if security == "tls":
            kwargs["ssl_context"] = context
        elif security == "starttls":
            kwargs.update(tls_context=context, require_starttls=True)
        if auth:
            kwargs["authenticator"] = self._authenticate
        self._controller = _Controller(self, **kwargs)
        self._running = False

    @property
    def port(self) -> int:
        port: int = self._controller.port
        return port

    def start(self) -> FakeSmtpServer:
        """Once: aiosmtpd's controller closes its event loop when it stops."""
        self._controller.start()
        self._running = True
        with self.lock:  # start() made one connection of its own to wake the server up
            self.connections = 0
            self.live.clear()
        return self

    def stop(self) -> None:
        if self._running:
            self._running = False
            self._controller.stop()

    def __enter__(self) -> FakeSmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def messages(self) -> list[ReceivedMail]:
        with self.lock:
            return list(self.received)

    def drop_connections(self) -> None:
        """Close every open connection from the server side, as an idle timeout would."""
        with self.lock:
            live = list(self.live)
        done = threading.Event()

        def close_all() -> None:
            for smtp in live:
                if smtp.transport is not None:
                    smtp.transport.close()
            done.set()

        self._controller.loop.call_soon_threadsafe(close_all)
        done.wait(5)

    def _authenticate(
        self, smtp: SMTP, session: Session, envelope: Envelope, mechanism: str, data: object
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.login == USER.encode() and data.password == PASSWORD.encode()
        return AuthResult(success=ok, handled=False)
