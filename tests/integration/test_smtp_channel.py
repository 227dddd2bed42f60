"""The email channel against a real SMTP server (aiosmtpd on 127.0.0.1), and bounce/complaint intake."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from tests.fakes.smtp_server import PASSWORD, USER, FakeSmtpServer, TlsFiles, make_certificate
from touchflow.channels.base import Outgoing, PermanentError, TransientError
from touchflow.channels.bounces import BounceReport, parse_report, status_is_hard
from touchflow.channels.smtp import SmtpChannel, SmtpSecurity, SmtpSettings, build_message, is_hard_bounce
from touchflow.clock import VirtualClock

FIXTURES = Path(__file__).parent.parent / "fixtures" / "email"
FROM = "news@touchflow.example.com"
UNSUBSCRIBE = ("<https://t.touchflow.example.com/u/eyJjIjoiY18wMDAxIiwibSI6Im1zZ18wMDAxIn0.Zm9vYmFyYmF6cXV4cXV1eA"
               "aGVsbG8gd29ybGQgdGhpcyBpcyBhIGxvbmcgdG9rZW4>, <mailto:unsubscribe+msg_0001@touchflow.example.com>")


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_certificate(tmp_path_factory.mktemp("smtp-tls"))


@pytest.fixture
def server() -> Iterator[FakeSmtpServer]:
    with FakeSmtpServer() as s:
        yield s


def settings(server: FakeSmtpServer, security: SmtpSecurity = "none", **overrides: object) -> SmtpSettings:
    values: dict[str, object] = {"host": "127.0.0.1", "port": server.port, "security": security,
                                 "from_address": FROM, "from_name": "触达 营销团队", "timeout_s": 5.0,
                                 "return_path": "bounces@touchflow.example.com", **overrides}
    return SmtpSettings(**values)  # type: ignore[arg-type]


def outgoing(n: int, to: str | None = None, key: str | None = None, **fields: object) -> Outgoing:
    values: dict[str, object] = {
        "message_id": f"msg_{n:04d}", "idempotency_key": key or f"run_{n:04d}:send", "contact_id": f"c_{n:04d}",
        "to": to or f"reader{n}@example.org", "text": f"您好，第 {n} 位读者：\n春季新品已上市。\n",
        "subject": "春季新品上市：您的专属优惠券已到账，限时三天有效",
        "html": f"<p>您好，第 {n} 位读者</p><p>春季新品已上市。</p>",
        "headers": {"List-Unsubscribe": UNSUBSCRIBE, "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
        **fields}
    return Outgoing(**values)  # type: ignore[arg-type]


def channel(s: SmtpSettings, clock: VirtualClock | None = None) -> SmtpChannel:
    return SmtpChannel("email", s, clock=clock)


# --- what arrives ---------------------------------------------------------------------------------


def test_a_multipart_chinese_message_arrives_intact(server: FakeSmtpServer, clock: VirtualClock) -> None:
    email_channel = channel(settings(server), clock)
    try:
        [delivery] = email_channel.send([outgoing(1)])
    finally:
        email_channel.close()

    assert delivery.status == "sent" and delivery.message_id == "msg_0001"
    [mail] = server.messages()
    assert mail.mail_from == "bounces@touchflow.example.com" and mail.rcpt_tos == ("reader1@example.org",)
    m = mail.message
    assert m["Subject"] == "春季新品上市：您的专属优惠券已到账，限时三天有效"
    assert m["From"].addresses[0].display_name == "触达 营销团队"
    assert m["From"].addresses[0].addr_spec == FROM
    assert m["Message-ID"] == delivery.provider_id
    assert m["X-Touchflow-Message"] == "msg_0001"
    assert parsedate_to_datetime(m["Date"]) == clock.now()
    assert m.get_content_type() == "multipart/alternative"
    plain, html = m.get_body(("plain",)), m.get_body(("html",))
    assert isinstance(plain, EmailMessage) and isinstance(html, EmailMessage)
    assert plain.get_content().replace("\r\n", "\n") == "您好，第 1 位读者：\n春季新品已上市。\n"
    assert html.get_content().strip() == "<p>您好，第 1 位读者</p><p>春季新品已上市。</p>"
    # RFC 8058: both headers byte for byte, unfolded and not encoded
    assert f"\r\nList-Unsubscribe: {UNSUBSCRIBE}\r\n".encode() in mail.raw
    assert b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in mail.raw
    assert all(len(line) <= 998 for line in mail.raw.split(b"\r\n"))


def test_a_text_only_ascii_message_is_one_quoted_printable_part(server: FakeSmtpServer) -> None:
    email_channel = channel(settings(server, from_name=None))
    try:
        [delivery] = email_channel.send([outgoing(2, subject="Spring is here", html=None, headers={},
                                                  text="Hello=world\n" + "x" * 200 + "\n")])
    finally:
        email_channel.close()

    assert delivery.status == "sent"
    m = server.messages()[0].message
    assert m.get_content_type() == "text/plain" and m["Content-Transfer-Encoding"] == "quoted-printable"
    assert m.get_content().replace("\r\n", "\n") == "Hello=world\n" + "x" * 200 + "\n"
    assert m["From"] == FROM and m["Subject"] == "Spring is here"


def test_a_resend_carries_the_same_message_id(server: FakeSmtpServer) -> None:
    first, again = channel(settings(server)), channel(settings(server))  # as after a worker restart
    try:
        [a] = first.send([outgoing(3, key="run_42:send_email")])
        [b] = again.send([outgoing(3, key="run_42:send_email")])
        [c] = again.send([outgoing(3, key="run_43:send_email")])
    finally:
        first.close()
        again.close()

    ids = [mail.message["Message-ID"] for mail in server.messages()]
    assert ids[0] == ids[1] == a.provider_id == b.provider_id
    assert ids[2] == c.provider_id != ids[0]
    assert str(a.provider_id).endswith("@touchflow.example.com>")


def test_non_ascii_addresses_use_idna_and_smtputf8(server: FakeSmtpServer) -> None:
    email_channel = channel(settings(server))
    try:
        deliveries = email_channel.send([outgoing(4, to="user@例子.测试"), outgoing(5, to="张伟@example.cn")])
    finally:
        email_channel.close()

    assert [d.status for d in deliveries] == ["sent", "sent"]
    assert {mail.rcpt_tos[0] for mail in server.messages()} == {"user@xn--fsqu00a.xn--0zwm56d", "张伟@example.cn"}


def test_a_message_that_cannot_be_written_fails_alone(server: FakeSmtpServer) -> None:
    email_channel = channel(settings(server))
    try:
        deliveries = email_channel.send([
            outgoing(6, headers={"X-Campaign": "spring\r\nBcc: everyone@example.org"}),
            outgoing(7, headers={"Subject": "overriding the channel"}),
            outgoing(8, to="not an address"),
            outgoing(9),
        ])
    finally:
        email_channel.close()

    assert [d.status for d in deliveries] == ["failed", "failed", "failed", "sent"]
    assert all(str(d.error).startswith("invalid message") for d in deliveries[:3])
    assert [mail.message["X-Touchflow-Message"] for mail in server.messages()] == ["msg_0009"]


# --- TLS and AUTH ---------------------------------------------------------------------------------


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_tls_and_login(security: SmtpSecurity, tls_files: TlsFiles) -> None:
    with FakeSmtpServer(security=security, tls=tls_files, auth=True) as tls_server:
        email_channel = channel(settings(tls_server, security, username=USER, password=PASSWORD,
                                         ca_file=tls_files.cert))
        try:
            [delivery] = email_channel.send([outgoing(10)])
        finally:
            email_channel.close()
        [mail] = tls_server.messages()

    assert delivery.status == "sent"
    assert mail.tls and mail.authenticated


def test_a_wrong_password_fails_the_whole_call_permanently(tls_files: TlsFiles) -> None:
    with FakeSmtpServer(security="starttls", tls=tls_files, auth=True) as tls_server:
        email_channel = channel(settings(tls_server, "starttls", username=USER, password="wrong",
                                         ca_file=tls_files.cert))
        try:
            with pytest.raises(PermanentError, match="login refused: 535"):
                email_channel.send([outgoing(11), outgoing(12)])
        finally:
            email_channel.close()
        assert tls_server.messages() == []


def test_an_untrusted_certificate_is_permanent_unless_verification_is_off(tls_files: TlsFiles) -> None:
    with FakeSmtpServer(security="starttls", tls=tls_files) as tls_server:
        strict = channel(settings(tls_server, "starttls"))  # system CAs only: our test CA is unknown
        lax = channel(settings(tls_server, "starttls", tls_verify=False))
        try:
            with pytest.raises(PermanentError, match="certificate not trusted"):
                strict.send([outgoing(13)])
            assert lax.send([outgoing(14)])[0].status == "sent"
        finally:
            strict.close()
            lax.close()


def test_mail_without_login_where_login_is_required_is_rejected_not_bounced(tls_files: TlsFiles) -> None:
    with FakeSmtpServer(security="starttls", tls=tls_files, auth=True) as tls_server:
        email_channel = channel(settings(tls_server, "starttls", ca_file=tls_files.cert))
        try:
            [delivery] = email_channel.send([outgoing(15)])
        finally:
            email_channel.close()

    assert delivery.status == "failed" and "530" in str(delivery.error)
    assert not is_hard_bounce(delivery)


# --- the pool -------------------------------------------------------------------------------------


def test_200_messages_over_a_pool_of_4_use_at_most_4_connections(server: FakeSmtpServer) -> None:
    email_channel = channel(settings(server, pool_size=4, max_messages_per_connection=1000))
    try:
        deliveries = [d for start in (0, 100) for d in email_channel.send([outgoing(n) for n in range(start,
                                                                                                     start + 100)])]
    finally:
        email_channel.close()

    assert [d.message_id for d in deliveries] == [f"msg_{n:04d}" for n in range(200)]  # order kept
    assert {d.status for d in deliveries} == {"sent"}
    assert len({mail.message["X-Touchflow-Message"] for mail in server.messages()}) == 200
    assert 1 <= server.connections <= 4 and email_channel.connections_opened == server.connections


def test_a_batch_is_spread_over_the_pool(server: FakeSmtpServer) -> None:
    server.faults.delay_s = 0.05  # each message takes a while: every worker gets one
    email_channel = channel(settings(server, pool_size=4))
    try:
        assert {d.status for d in email_channel.send([outgoing(n) for n in range(8)])} == {"sent"}
    finally:
        email_channel.close()
    assert server.connections == 4


def test_a_connection_is_closed_after_its_share_of_messages(server: FakeSmtpServer) -> None:
    email_channel = channel(settings(server, pool_size=1, max_messages_per_connection=10))
    try:
        assert {d.status for d in email_channel.send([outgoing(n) for n in range(25)])} == {"sent"}
    finally:
        email_channel.close()
    assert server.connections == 3  # 10 + 10 + 5


def test_connections_persist_across_calls(server: FakeSmtpServer) -> None:
    email_channel = channel(settings(server, pool_size=1))
    try:
        for n in range(5):
            assert email_channel.send([outgoing(n)])[0].status == "sent"
    finally:
        email_channel.close()
    assert server.connections == 1


@pytest.mark.parametrize("idle_check_s", [0.0, 3600.0], ids=["noop-first", "reconnect-on-failure"])
def test_a_connection_the_server_dropped_is_replaced(server: FakeSmtpServer, idle_check_s: float) -> None:
    email_channel = channel(settings(server, pool_size=1, idle_check_s=idle_check_s))
    try:
        assert email_channel.send([outgoing(1)])[0].status == "sent"
        server.drop_connections()  # the server's idle timeout
        assert email_channel.send([outgoing(2)])[0].status == "sent"
    finally:
        email_channel.close()
    assert server.connections == 2 and len(server.messages()) == 2


def test_421_too_many_messages_moves_on_to_a_fresh_connection(server: FakeSmtpServer) -> None:
    server.faults.messages_per_connection = 3
    email_channel = channel(settings(server, pool_size=1))
    try:
        deliveries = email_channel.send([outgoing(n) for n in range(10)])
    finally:
        email_channel.close()
    assert {d.status for d in deliveries} == {"sent"}
    assert server.connections == 4 and len(server.messages()) == 10


# --- failures -------------------------------------------------------------------------------------


def test_550_is_a_hard_bounce_and_451_a_retry(server: FakeSmtpServer) -> None:
    server.faults.reject.add("gone@example.org")
    server.faults.tempfail.add("greylisted@example.org")
    email_channel = channel(settings(server, pool_size=1))
    try:
        gone, later, fine = email_channel.send([outgoing(1, to="gone@example.org"),
                                                outgoing(2, to="greylisted@example.org"), outgoing(3)])
    finally:
        email_channel.close()

    assert gone.status == "failed" and is_hard_bounce(gone)
    assert "550 5.1.1" in str(gone.error) and "User unknown" in str(gone.error)
    assert later.status == "retry" and "451 4.3.0" in str(later.error) and not is_hard_bounce(later)
    assert fine.status == "sent"
    assert server.connections == 1  # the refusals did not cost the connection
    assert [mail.rcpt_tos for mail in server.messages()] == [("reader3@example.org",)]


def test_a_run_of_temporary_failures_then_success(server: FakeSmtpServer) -> None:
    server.faults.tempfail_next = 2
    email_channel = channel(settings(server, pool_size=1))
    try:
        assert [d.status for d in email_channel.send([outgoing(n) for n in range(3)])] == ["retry", "retry", "sent"]
        assert email_channel.send([outgoing(0)])[0].status == "sent"  # the dispatcher's retry
    finally:
        email_channel.close()


def test_a_slow_server_is_a_retry_and_the_pool_recovers(server: FakeSmtpServer) -> None:
    server.faults.delay_s = 1.0
    email_channel = channel(settings(server, pool_size=1, timeout_s=0.3))
    try:
        [slow] = email_channel.send([outgoing(1)])
        server.faults.delay_s = 0.0
        [quick] = email_channel.send([outgoing(2)])
    finally:
        email_channel.close()
    assert slow.status == "retry" and slow.error == "SMTP timeout"
    assert quick.status == "sent"


def test_a_server_that_is_down_fails_the_whole_call_transiently() -> None:
    with FakeSmtpServer() as gone:
        port = gone.port
    email_channel = SmtpChannel("email", SmtpSettings(host="127.0.0.1", port=port, security="none",
                                                      from_address=FROM, timeout_s=2.0))
    try:
        with pytest.raises(TransientError, match="unreachable"):
            email_channel.send([outgoing(1), outgoing(2)])
    finally:
        email_channel.close()


def test_a_server_that_is_down_midway_leaves_retries(server: FakeSmtpServer) -> None:
    email_channel = channel(settings(server, pool_size=1))
    try:
        assert email_channel.send([outgoing(1)])[0].status == "sent"
        server.stop()
        deliveries = email_channel.send([outgoing(2), outgoing(3)])
    finally:
        email_channel.close()
    assert [d.status for d in deliveries] == ["retry", "retry"]


def test_smtp_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="not an email address"):
        SmtpSettings(host="localhost", from_address="news")
    with pytest.raises(ValueError, match="go together"):
        SmtpSettings(host="localhost", from_address=FROM, username="u")
    with pytest.raises(ValueError, match="security"):
        SmtpSettings(host="localhost", from_address=FROM, security="ssl")  # type: ignore[arg-type]


# --- bounces and complaints -----------------------------------------------------------------------


def _report(name: str) -> BounceReport | None:
    return parse_report((FIXTURES / name).read_bytes())


def _message_id_for(key: str) -> str:
    s = SmtpSettings(host="smtp.touchflow.example.com", from_address=FROM)
    return build_message(s, outgoing(0, key=key), datetime(2026, 3, 2, tzinfo=UTC))[1]


@pytest.mark.parametrize(("fixture", "expected"), [
    ("postfix_hard_bounce.eml", BounceReport(
        "bounce", True, "wang.fang@example-corp.cn", "msg_01JN5X0Q7H0000000000000001",
        _message_id_for("run_01JN5X:send_1"), "5.1.1",
        "550 5.1.1 <wang.fang@example-corp.cn>: Recipient address rejected: User unknown in virtual mailbox table")),
    ("postfix_delayed.eml", BounceReport(
        "bounce", False, "li.na@slow-mx.example.net", "msg_01JN5X0Q7H0000000000000002",
        _message_id_for("run_01JN5Y:send_1"), "4.4.1",
        "connect to mx.slow-mx.example.net[198.51.100.40]:25: Connection timed out")),
    ("provider_ndr_hard.eml", BounceReport(
        "bounce", True, "chen.jie@contoso.example", "msg_01JN5X0Q7H0000000000000003",
        _message_id_for("run_01JN5Z:send_2"), "5.1.10",
        "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient chen.jie@contoso.example not found by SMTP "
        "address lookup")),
    ("arf_abuse_complaint.eml", BounceReport(
        "complaint", False, "zhang.wei@mail.example", "msg_01JN5X0Q7H0000000000000004",
        _message_id_for("run_01JN60:send_1"), None, "feedback-type abuse")),
    ("arf_redacted_complaint.eml", BounceReport(
        "complaint", False, "", "msg_01JN5X0Q7H0000000000000005", _message_id_for("run_01JN61:send_3"), None,
        "feedback-type abuse")),
    ("auto_reply_not_a_report.eml", None),
    ("postfix_delivered_dsn.eml", None),
])
def test_reports_parse_to_what_they_say(fixture: str, expected: BounceReport | None) -> None:
    assert _report(fixture) == expected


def test_a_not_spam_feedback_report_is_not_a_complaint() -> None:
    raw = (FIXTURES / "arf_abuse_complaint.eml").read_bytes().replace(b"Feedback-Type: abuse",
                                                                     b"Feedback-Type: not-spam")
    assert parse_report(raw) is None


@pytest.mark.parametrize(("status", "at_recipient", "hard"), [
    ("5.1.1", False, True), ("5.1.10", False, True), ("5.0.0", False, True), ("5.2.1", False, True),
    ("5.2.2", False, False), ("5.3.4", False, False), ("5.7.1", True, False), ("5.6.0", False, False),
    ("4.4.1", False, False), (None, True, True), (None, False, False),
])
def test_which_failures_are_hard(status: str | None, at_recipient: bool, hard: bool) -> None:
    assert status_is_hard(status, at_recipient=at_recipient) is hard
