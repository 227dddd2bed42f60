"""The webhook URL rules (domain/webhook_urls): one plain spelling, no internal target in any spelling."""

from __future__ import annotations

import ipaddress

import pytest

from touchflow.domain.webhook_urls import AllowList, host_address, url_form_problem, url_problem


@pytest.mark.parametrize(("host", "address"), [
    ("127.0.0.1", "127.0.0.1"),
    ("0177.0.0.1", "127.0.0.1"),  # octal
    ("0x7f.1", "127.0.0.1"),  # hex, two parts
    ("0x7F000001", "127.0.0.1"),
    ("2130706433", "127.0.0.1"),  # one integer
    ("127.1", "127.0.0.1"),
    ("127.0.0.1.", "127.0.0.1"),  # trailing dot
    ("0251.0376.0251.0376", "169.254.169.254"),
    ("0xa9fea9fe", "169.254.169.254"),
    ("2852039166", "169.254.169.254"),
    ("0", "0.0.0.0"),
    ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
    ("::1", "::1"),
])
def test_host_address_reads_every_spelling_a_resolver_or_browser_takes(host: str, address: str) -> None:
    assert host_address(host) == ipaddress.ip_address(address)


@pytest.mark.parametrize("host", ["crm.example.cn", "08.0.0.1", "256.0.0.1", "1.2.3.4.5", "0x.example", "4294967296",
                                  "[::g]", ""])
def test_names_and_impossible_numbers_are_not_addresses(host: str) -> None:
    assert host_address(host) is None


@pytest.mark.parametrize(("url", "reason"), [
    ("http://0177.0.0.1/", "octal, hex, integer or shortened form (127.0.0.1: loopback)"),
    ("http://0x7f.1/", "127.0.0.1: loopback"),
    ("http://2130706433/hook", "127.0.0.1: loopback"),
    ("http://0251.0376.0251.0376/latest/meta-data", "169.254.169.254: link-local"),
    ("http://169.254.169.254/latest/meta-data", "169.254.169.254: link-local (incl. cloud metadata)"),
    ("http://10.1.2.3/", "private"),
    ("http://[::ffff:169.254.169.254]/", "link-local"),
    ("http://[fd00::1]/", "private"),
    ("http://localhost:8080/", "loopback"),
    ("http://api.localhost/", "loopback"),
    ("http://crm.example.cn@127.0.0.1/", "user name or password"),
    ("http://crm.example.cn\\@127.0.0.1/", "user name or password"),
    ("http://user:pw@crm.example.cn/", "user name or password"),
    ("http://%31%32%37.0.0.1/", "%-escape"),
    ("http://crm.example.cn\\.evil/", "backslash"),
    ("ftp://crm.example.cn/", "only http:// and https://"),
    ("file:///etc/passwd", "only http:// and https://"),
    ("gopher://127.0.0.1:6379/_FLUSHALL", "only http:// and https://"),
    ("http:///path", "no host"),
    ("http://crm.example.cn:0/", "port 0"),
    ("http://crm .example.cn/", "space or a control character"),
    ("http://crm.example.cn/\r\nX-Injected: 1", "space or a control character"),
    ("http://１２７.0.0.1/", "full-width"),
    ("http://08.0.0.1/", "not an IPv4 address"),
])
def test_publish_rules_refuse_with_the_reason(url: str, reason: str) -> None:
    problem = url_problem(url)
    assert problem is not None and reason in problem, problem


@pytest.mark.parametrize("url", ["https://crm.example.cn/hooks/touchflow?x=1#f", "http://203.0.113.7:8080/h",
                                 "https://[2001:db8::1]/h", "https://例子.中国/h", "http://8.8.8.8/"])
def test_public_targets_pass(url: str) -> None:
    assert url_problem(url) is None


def test_the_allow_list_opens_internal_hosts_and_networks_but_never_odd_spellings() -> None:
    allow = AllowList.of(["Hooks.Internal"], ["10.0.0.0/8", "127.0.0.1/32"])
    assert url_problem("http://10.1.2.3/h", allow) is None
    assert url_problem("http://hooks.internal/h", allow) is None
    assert url_problem("http://127.0.0.1:9000/h", allow) is None
    problem = url_problem("http://0177.0.0.1:9000/h", allow)  # allowed address, but not in a form all parsers read
    assert problem is not None and "write it as 127.0.0.1" in problem
    assert url_problem("http://192.168.1.1/", allow) is not None


def test_the_channel_form_check_leaves_resolution_to_connect_time() -> None:
    assert url_form_problem("http://localhost:8080/") is None  # resolved and refused when connecting
    assert url_form_problem("http://10.1.2.3/") is None  # refused when connecting (unless allow-listed)
    assert "octal" in (url_form_problem("http://0177.0.0.1/") or "")
