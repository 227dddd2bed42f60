"""Email over SMTP: a pool of persistent connections, MIME from ``email_mime``, replies classified.

Per message: ``sent``; ``retry`` for 4xx, dropped connections and timeouts; ``failed`` for 5xx, the
error starting with ``HARD_BOUNCE_PREFIX`` when the address is bad. A call raises only before anything
was handed over: ``TransientError`` (unreachable, 4xx greeting) or ``PermanentError`` (login refused,
untrusted certificate, no STARTTLS): docs/subsystems/channels-email.md says why.
"""

from __future__ import annotations

import base64
import logging
import smtplib
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from touchflow.channels import email_mime
from touchflow.channels.base import Delivery, Outgoing, PermanentError, TransientError
from touchflow.channels.bounces import status_is_hard
from touchflow.channels.email_mime import ascii_address, split_address
from touchflow.clock import Clock, SystemClock

__all__ = ["HARD_BOUNCE_PREFIX", "SmtpChannel", "SmtpSecurity", "SmtpSettings", "build_message", "is_hard_bounce"]

SmtpSecurity = Literal["none", "starttls", "tls"]
HARD_BOUNCE_PREFIX = "hard bounce: "
log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class SmtpSettings:
    """How to reach the relay and who the mail is from. ``return_path`` receives bounces (MAIL FROM)."""

    host: str
    from_address: str
    port: int = 587
    username: str | None = None
    password: str | None = None
    security: SmtpSecurity = "starttls"
    from_name: str | None = None
    timeout_s: float = 30.0
    pool_size: int = 4
    max_messages_per_connection: int = 100
    tls_verify: bool = True
    ca_file: str | None = None
    return_path: str | None = None
    helo_name: str | None = None
    idle_check_s: float = 15.0  # a pooled connection idle longer than this is checked with NOOP first

    def __post_init__(self) -> None:
        if self.security not in ("none", "starttls", "tls"):
            raise ValueError(f"security must be none, starttls or tls, not {self.security!r}")
        if self.pool_size < 1 or self.max_messages_per_connection < 1:
            raise ValueError("pool_size and max_messages_per_connection must be at least 1")
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        split_address(self.from_address)


def is_hard_bounce(delivery: Delivery) -> bool:
    """Whether a ``failed`` delivery means the address is bad (suppress it), not the message or the sender."""
    return delivery.status == "failed" and (delivery.error or "").startswith(HARD_BOUNCE_PREFIX)


@dataclass(frozen=True)
class _Prepared:
    index: int
    message: Outgoing
    envelope_to: str
    payload: bytes
    message_id: str
    utf8: bool


def build_message(settings: SmtpSettings, message: Outgoing, now: datetime) -> tuple[bytes, str, bool]:
    """(RFC 5322 bytes, Message-ID, needs SMTPUTF8) for this relay's sender (see ``email_mime``)."""
    return email_mime.build_message(settings.from_name, settings.from_address, message, now)


# --- connections ----------------------------------------------------------------------------------


class _Connection:
    __slots__ = ("last_used", "sent", "smtp")

    def __init__(self, smtp: smtplib.SMTP) -> None:
        self.smtp = smtp
        self.sent = 0
        self.last_used = time.monotonic()

    @property
    def open(self) -> bool:
        return self.smtp.sock is not None

    def close(self, polite: bool) -> None:
        try:
            if polite and self.open:
                self.smtp.quit()
        except (smtplib.SMTPException, OSError):
            pass
        finally:
            self.smtp.close()


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", errors="replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())


def _open_error(exc: Exception) -> TransientError | PermanentError:
    """Why no connection could be opened, as the whole call's error."""
    if isinstance(exc, smtplib.SMTPResponseException) and 400 <= exc.smtp_code < 500:
        return TransientError(f"SMTP {exc.smtp_code} {_text(exc.smtp_error)}")
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return PermanentError(f"SMTP login refused: {exc.smtp_code} {_text(exc.smtp_error)}")
    if isinstance(exc, smtplib.SMTPResponseException):
        return PermanentError(f"SMTP {exc.smtp_code} {_text(exc.smtp_error)}")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return PermanentError(f"TLS certificate not trusted: {exc.verify_message or exc}")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return PermanentError(f"SMTP server: {exc}")
    return TransientError(f"SMTP server unreachable: {type(exc).__name__}: {exc}")


class _Pool:
    """At most ``pool_size`` connections; idle ones are reused, newest first, and closed after
    ``max_messages_per_connection`` messages."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(settings.pool_size)
        self._context: ssl.SSLContext | None = None
        self.opened = 0

    def acquire(self) -> _Connection:
        if not self._slots.acquire(timeout=self.settings.timeout_s):
            raise TransientError("every SMTP connection stayed busy")
        try:
            while True:
                with self._lock:
                    connection = self._idle.pop() if self._idle else None
                if connection is None:
                    return self._open()
                if time.monotonic() - connection.last_used < self.settings.idle_check_s or _answers(connection):
                    return connection
                connection.close(polite=False)
        except BaseException:
            self._slots.release()
            raise

    def release(self, connection: _Connection) -> None:
        """Back to the pool, or closed when it is broken or has sent its share."""
        try:
            if connection.open and connection.sent < self.settings.max_messages_per_connection:
                connection.last_used = time.monotonic()
                with self._lock:
                    self._idle.append(connection)
            else:
                connection.close(polite=True)
        finally:
            self._slots.release()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close(polite=True)

    def _open(self) -> _Connection:
        s = self.settings
        context = self._tls_context() if s.security != "none" else None
        try:
            if s.security == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, s.helo_name, timeout=s.timeout_s,
                                                      context=context)
            else:
                smtp = smtplib.SMTP(s.host, s.port, s.helo_name, timeout=s.timeout_s)
        except (smtplib.SMTPException, OSError) as exc:
            raise _open_error(exc) from exc
        try:
            smtp.ehlo()
            if s.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise PermanentError("the SMTP server does not offer STARTTLS")
                smtp.starttls(context=context)
                smtp.ehlo()
            if s.username is not None and s.password is not None:
                _login(smtp, s.username, s.password)
        except (smtplib.SMTPException, OSError) as exc:
            smtp.close()
            raise _open_error(exc) from exc
        except BaseException:
            smtp.close()
            raise
        with self._lock:
            self.opened += 1
        return _Connection(smtp)

    def _tls_context(self) -> ssl.SSLContext:
        """One context per pool: loading the CA store costs milliseconds."""
        with self._lock:
            if self._context is None:
                self._context = ssl.create_default_context(cafile=self.settings.ca_file)
                if not self.settings.tls_verify:
                    self._context.check_hostname = False
                    self._context.verify_mode = ssl.CERT_NONE
            return self._context


def _login(smtp: smtplib.SMTP, username: str, password: str) -> None:
    """``smtplib`` encodes credentials as ASCII; RFC 4616 PLAIN carries UTF-8, so send that ourselves."""
    if username.isascii() and password.isascii():
        smtp.login(username, password)
        return
    if not smtp.has_extn("auth"):
        raise smtplib.SMTPNotSupportedError("the SMTP server does not offer AUTH")
    blob = base64.b64encode(f"\0{username}\0{password}".encode()).decode("ascii")
    code, reply = smtp.docmd("AUTH", f"PLAIN {blob}")
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, reply)


def _answers(connection: _Connection) -> bool:
    try:
        return connection.smtp.noop()[0] == 250
    except (smtplib.SMTPException, OSError):
        return False


# --- the channel ----------------------------------------------------------------------------------


class SmtpChannel:
    """The ``email`` channel over an SMTP relay; thread-safe, connections kept open across calls."""

    max_batch = 100

    def __init__(self, name: str, settings: SmtpSettings, clock: Clock | None = None) -> None:
        self.name = name
        self.settings = settings
        self._clock: Clock = clock or SystemClock()
        self._pool = _Pool(settings)
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()

    @property
    def connections_opened(self) -> int:
        """How many SMTP connections this channel has opened (pooling makes this small)."""
        return self._pool.opened

    def send(self, messages: Sequence[Outgoing]) -> list[Delivery]:
        if len(messages) > self.max_batch:
            raise ValueError(f"at most {self.max_batch} messages per call, got {len(messages)}")
        now = self._clock.now()
        results: list[Delivery | None] = [None] * len(messages)
        work: list[_Prepared] = []
        for index, message in enumerate(messages):
            try:
                payload, message_id, utf8 = build_message(self.settings, message, now)
                envelope_to = ascii_address(message.to)[0]
            except ValueError as exc:
                results[index] = Delivery(message.message_id, "failed", error=f"invalid message: {exc}")
                continue
            except Exception as exc:  # a bug on one message fails that message, not the call
                log.exception("channel %s: unexpected error building message %s", self.name, message.message_id)
                results[index] = Delivery(message.message_id, "failed", error=_unexpected(self.name, exc))
                continue
            work.append(_Prepared(index, message, envelope_to, payload, message_id, utf8))
        if work:
            first = self._pool.acquire()  # raises for the whole call: nothing has been handed over yet
            queue = _Queue(work)
            workers = min(self.settings.pool_size, len(work))
            if workers == 1:
                self._work(queue, first, results)
            else:
                executor = self._threads()
                futures = [executor.submit(self._work, queue, first if n == 0 else None, results)
                           for n in range(workers)]
                for future in futures:
                    future.result()
        return [r if r is not None else Delivery(m.message_id, "retry", error="no SMTP connection was free")
                for r, m in zip(results, messages, strict=True)]

    def close(self) -> None:
        with self._executor_lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        self._pool.close()

    def _threads(self) -> ThreadPoolExecutor:
        with self._executor_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.settings.pool_size, thread_name_prefix=f"smtp-{self.name}")
            return self._executor

    def _work(self, queue: _Queue, connection: _Connection | None, results: list[Delivery | None]) -> None:
        """Send queued messages one after another over one connection until the queue is empty."""
        try:
            for item in queue:
                if connection is None:
                    try:
                        connection = self._pool.acquire()
                    except Exception as exc:  # nothing of this message was handed over
                        results[item.index] = Delivery(item.message.message_id, "retry", error=str(exc))
                        return  # the other workers carry on; what nobody took is reported as retry
                results[item.index], connection = self._deliver(connection, item)
        finally:
            if connection is not None:
                self._pool.release(connection)

    def _deliver(self, connection: _Connection, item: _Prepared) -> tuple[Delivery, _Connection | None]:
        delivery, reconnect = self._transaction(connection, item)
        if reconnect:  # a reused connection the server had dropped (idle timeout, 421): once more, fresh
            self._pool.release(connection)
            try:
                connection = self._pool.acquire()
            except Exception:  # the first answer stands
                return delivery, None
            delivery, _ = self._transaction(connection, item)
        if not connection.open or connection.sent >= self.settings.max_messages_per_connection:
            self._pool.release(connection)
            return delivery, None
        return delivery, connection

    def _transaction(self, connection: _Connection, item: _Prepared) -> tuple[Delivery, bool]:
        """One MAIL/RCPT/DATA; (the outcome, whether a fresh connection may try again)."""
        message_id = item.message.message_id
        reused = connection.sent > 0
        try:
            connection.smtp.sendmail(self.settings.return_path or self.settings.from_address, [item.envelope_to],
                                     item.payload, mail_options=("SMTPUTF8",) if item.utf8 else ())
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = exc.recipients.get(item.envelope_to, (-1, b"refused"))
            return _refused(message_id, code, text, at_recipient=True), reused and code == 421
        except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            return _refused(message_id, exc.smtp_code, exc.smtp_error, at_recipient=False), reused and \
                exc.smtp_code == 421
        except smtplib.SMTPNotSupportedError as exc:
            return Delivery(message_id, "failed", error=f"rejected: {exc} (the address is not ASCII)"), False
        except (smtplib.SMTPException, OSError) as exc:
            connection.smtp.close()
            timed_out = isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError)
            error = "SMTP timeout" if timed_out else f"SMTP connection lost: {exc}"
            return Delivery(message_id, "retry", error=error), reused and not timed_out
        except Exception as exc:  # the message may be half sent: fail it (never resend), drop the connection
            log.exception("channel %s: unexpected error sending message %s", self.name, message_id)
            connection.smtp.close()
            return Delivery(message_id, "failed", error=_unexpected(self.name, exc)), False
        connection.sent += 1
        return Delivery(message_id, "sent", provider_id=item.message_id), False


def _unexpected(channel: str, exc: Exception) -> str:
    return f"unexpected error in channel {channel}: {type(exc).__name__}: {exc}"[:500]


def _refused(message_id: str, code: int, text: bytes | str, *, at_recipient: bool) -> Delivery:
    reply = f"{code} {_text(text)}"
    if 400 <= code < 500 or code < 0:
        return Delivery(message_id, "retry", error=reply)
    words = reply.split()
    status = words[1] if len(words) > 1 and words[1][:2] in ("5.", "4.") else None
    hard = status_is_hard(status, at_recipient=at_recipient)
    return Delivery(message_id, "failed", error=f"{HARD_BOUNCE_PREFIX if hard else 'rejected: '}{reply}")


class _Queue:
    """The batch's messages, handed out one at a time to whichever worker asks first."""

    def __init__(self, items: list[_Prepared]) -> None:
        self._items = iter(items)
        self._lock = threading.Lock()

    def __iter__(self) -> Iterator[_Prepared]:
        while True:
            with self._lock:
                item = next(self._items, None)
            if item is None:
                return
            yield item

