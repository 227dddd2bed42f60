"""Which URLs a webhook may be sent to: the pure rules that journey publishing and the webhook channel share.

A webhook URL is typed by a marketer, so it must not reach our own network (SSRF): loopback, RFC 1918 and
unique-local, link-local (the cloud metadata address 169.254.169.254), CGNAT, unspecified, multicast and
reserved addresses are refused, also when embedded in IPv6 (IPv4-mapped, IPv4-compatible, NAT64, 6to4),
unless the host or network is allow-listed.

Parsers disagree about odd URLs, and each disagreement is a way around a check: ``0177.0.0.1``, ``0x7f.1``
and ``2130706433`` are 127.0.0.1 to the C resolver (``inet_aton``) and to browsers' URL parser, not to
Python's ``ipaddress``; ``http://a.example@127.0.0.1/`` and ``http://a.example\\@127.0.0.1/`` put the host on
different sides of the ``@`` for different parsers. So a URL is accepted only in one plain spelling: http(s),
no user name or password, no backslash, space, control or percent-encoded character in the authority, an
IPv4 address only in dotted decimal, a host name in plain (NFKC-stable) characters.

``url_problem`` is what can be known without DNS (publishing uses it); the channel also resolves the name
when it connects and checks every address with ``address_problem`` (docs/subsystems/channels-http.md).
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = [
    "AllowList",
    "IPAddress",
    "address_problem",
    "host_address",
    "refusal_rule",
    "url_form_problem",
    "url_problem",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("unspecified", ("0.0.0.0/8", "::/128")),
    ("loopback", ("127.0.0.0/8", "::1/128")),
    ("private (RFC 1918 / unique local)", ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")),
    ("link-local (incl. cloud metadata)", ("169.254.0.0/16", "fe80::/10", "fec0::/10")),
    ("shared address space (CGNAT, RFC 6598)", ("100.64.0.0/10",)),
    ("IETF protocol assignments", ("192.0.0.0/24",)),
    ("benchmarking", ("198.18.0.0/15",)),
    ("multicast", ("224.0.0.0/4", "ff00::/8")),
    ("reserved", ("240.0.0.0/4", "100::/64")),
)
_NETWORKS = tuple((rule, ipaddress.ip_network(net)) for rule, nets in _RULES for net in nets)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_COMPATIBLE = ipaddress.IPv6Network("::/96")
# Names that are loopback by definition (RFC 6761 §6.3), whatever a resolver says.
_LOOPBACK_NAMES = re.compile(r"(?:.*\.)?localhost\.?")
_IPV4_PART = re.compile(r"0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]*")
_AUTHORITY_FORBIDDEN = re.compile(r"[\s\\%@\x00-\x1f\x7f]")


def refusal_rule(address: IPAddress) -> str | None:
    """Why ``address`` must not be reached, or ``None`` when it is a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded: ipaddress.IPv4Address | None = address.ipv4_mapped or address.sixtofour
        if embedded is None and (address in _NAT64 or (address in _COMPATIBLE and int(address) > 1)):
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            inner = refusal_rule(embedded)
            return f"{inner} (embedded in IPv6 {address})" if inner else None
    for rule, network in _NETWORKS:
        if address.version == network.version and address in network:
            return rule
    return None


def _ipv4_number(part: str) -> int | None:
    if not _IPV4_PART.fullmatch(part):
        return None
    if part[:2].lower() == "0x":
        return int(part[2:] or "0", 16)
    if len(part) > 1 and part.startswith("0"):
        return int(part, 8)
    return int(part)


def host_address(host: str) -> IPAddress | None:
    """The address ``host`` denotes when it is written as one, in any spelling a resolver or browser takes:
    ``[::1]``, ``127.0.0.1``, and also ``0177.0.0.1`` (octal), ``0x7f.1`` (hex, fewer parts), ``2130706433``
    (one integer), with or without a trailing dot (the WHATWG URL IPv4 parser, which matches ``inet_aton``).
    ``None`` for a host name."""
    name = host.strip()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    if ":" in name:
        try:
            return ipaddress.IPv6Address(name)
        except ValueError:
            return None
    parts = name.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()
    if not 1 <= len(parts) <= 4:
        return None
    numbers = [_ipv4_number(p) for p in parts]
    if any(n is None for n in numbers):
        return None
    values = [n for n in numbers if n is not None]
    if any(n > 255 for n in values[:-1]) or values[-1] >= 256 ** (5 - len(values)):
        return None
    value = values[-1]
    for index, n in enumerate(values[:-1]):
        value += n << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


@dataclass(frozen=True)
class AllowList:
    """Hosts (exact names) and networks (CIDR) a channel's operator allowed although they are internal."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[str, ...] = ()

    @classmethod
    def of(cls, hosts: Iterable[str] = (), networks: Iterable[str] = ()) -> AllowList:
        return cls(frozenset(h.strip().lower().rstrip(".") for h in hosts), tuple(networks))

    def allows_host(self, name: str) -> bool:
        return name.lower().rstrip(".") in self.hosts

    def allows_address(self, address: IPAddress) -> bool:
        for text in self.networks:
            try:
                network = ipaddress.ip_network(text, strict=False)
            except ValueError:  # a malformed entry allows nothing (the channel refuses to start with it)
                continue
            if address.version == network.version and address in network:
                return True
        return False


def address_problem(address: IPAddress, allow: AllowList = AllowList()) -> str | None:
    """The refusal rule for ``address``, unless its network is allow-listed."""
    return None if allow.allows_address(address) else refusal_rule(address)


def url_form_problem(url: str) -> str | None:
    """Why ``url`` is not a plain http(s) URL that every parser reads alike, or ``None``.

    Refused: other schemes; no host; a user name or password (``user@host``); a backslash, space, control
    character or ``%`` escape in the authority; a port outside 1–65535; a host with full-width or other
    compatibility characters; an IPv4 address in octal, hex, integer or shortened form."""
    if not isinstance(url, str) or not url:
        return "empty URL"
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F or ch.isspace() for ch in url):
        return "the URL contains a space or a control character"
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        return f"only http:// and https:// URLs may be called, not {url[:40]!r}"
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" in authority:
        return "the URL carries a user name or password (user@host); put credentials in the channel's secret"
    if _AUTHORITY_FORBIDDEN.search(authority):
        return f"the host part {authority!r} contains a backslash or a %-escape"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"not a valid URL: {exc}"
    host = parts.hostname or ""
    if not host:
        return "the URL has no host"
    if port is not None and not 1 <= port <= 65535:
        return f"port {port} is outside 1–65535"
    folded = unicodedata.normalize("NFKC", host).replace("\u3002", ".").lower()
    if folded != host:
        return f"the host {host!r} is written with full-width or compatibility characters; write {folded!r}"
    address = host_address(host)
    if address is None and _NUMERIC_LABEL.fullmatch(host.rstrip(".").rpartition(".")[2]):
        return f"the host {host!r} ends in a number but is not an IPv4 address"
    if isinstance(address, ipaddress.IPv4Address) and host != str(address):
        rule = refusal_rule(address)
        meaning = f"{address}: {rule}" if rule else str(address)
        return f"the host {host!r} is an IPv4 address in octal, hex, integer or shortened form ({meaning}); " \
               f"write it as {address}"
    return None


def url_problem(url: str, allow: AllowList = AllowList()) -> str | None:
    """Everything that can be known about ``url`` without DNS: its form, an address written in it, and
    names that are loopback by definition (``localhost``). ``None`` when it may be published; the channel
    still checks every resolved address when it connects."""
    form = url_form_problem(url)
    if form is not None:
        return form
    host = urlsplit(url).hostname or ""
    if allow.allows_host(host):
        return None
    address = host_address(host)
    if address is not None:
        rule = address_problem(address, allow)
        return f"{address}: {rule}; webhooks may not call our own network" if rule else None
    if _LOOPBACK_NAMES.fullmatch(host):
        return f"{host}: loopback (a localhost name); webhooks may not call our own network"
    return None
