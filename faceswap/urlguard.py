"""Which image URLs may be fetched: pure checks of a URL and of the addresses its host stands for.

The policy, against server-side request forgery:

- only ``http`` and ``https``; no user name or password; at most ``MAX_URL_LENGTH`` characters;
  no backslash or control character anywhere (parsers disagree about them);
- the URL is parsed by httpx, the same parser that sends the request, so check and use cannot differ;
- the host is a DNS name, a dotted IPv4 address or a bracketed IPv6 address without a zone; a host
  ending in a number is read the way browsers and ``inet_aton`` read it (``2130706433``,
  ``0x7f000001``, ``0177.0.0.1``, ``127.1`` are all 127.0.0.1) and refused when that reading fails;
- any port from 1 to 65535 is allowed: the address, not the port, is what makes a target internal;
- every address the host stands for must be public (``is_public_address``); a name's addresses are
  checked after resolution by the fetcher, an address literal here as well;
- ``allow_private`` (tests) and an exact host name on the allow-list (e.g. the user's storage bucket)
  are the only ways to widen it; an entry ``name:port`` widens it for that port alone, a bare name
  for every port.
"""

from __future__ import annotations

import string
from collections.abc import Collection
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

import httpx
import idna

from faceswap.errors import ErrorCode, SwapError

__all__ = [
    "ALLOWED_SCHEMES",
    "MAX_URL_LENGTH",
    "IPAddress",
    "ParsedTarget",
    "allowlist_entry",
    "check_url",
    "connect_address",
    "is_allowlisted",
    "is_public_address",
    "parse_address_host",
]

IPAddress = IPv4Address | IPv6Address

MAX_URL_LENGTH = 4096
ALLOWED_SCHEMES = frozenset({"http", "https"})
DEFAULT_PORTS = {"http": 80, "https": 443}

_REFUSED_NETWORKS: tuple[IPv4Network | IPv6Network, ...] = tuple(
    ip_network(network)
    for network in (
        "0.0.0.0/8",  # "this network"; 0.0.0.0 reaches the local host
        "10.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, cloud metadata (169.254.169.254)
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, broadcast
        "::/96",  # unspecified, loopback, deprecated IPv4-compatible
        "64:ff9b:1::/48",
        "100::/64",
        "2001::/23",  # IETF protocol assignments, Teredo
        "2001:db8::/32",
        "2002::/16",  # 6to4: may embed any IPv4 address
        "3fff::/20",
        "5f00::/16",
        "fc00::/7",  # unique local, fd00::/8 included
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",  # multicast
    )
)
_GLOBAL_UNICAST = IPv6Network("2000::/3")
_NAT64 = IPv6Network("64:ff9b::/96")
_HOST_NAME_CHARACTERS = frozenset(string.ascii_lowercase + string.digits + "-._")
_HEX_DIGITS = frozenset(string.hexdigits)
_DIGITS_BY_BASE = {8: frozenset("01234567"), 10: frozenset(string.digits), 16: _HEX_DIGITS}


@dataclass(frozen=True)
class ParsedTarget:
    """A URL that passed the checks: what to request and where it points."""

    url: httpx.URL
    scheme: str
    host: str
    port: int
    address: IPAddress | None


def _embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv4-mapped or NAT64 IPv6 address carries, if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public_address(address: str | IPAddress) -> bool:
    """Whether an address is globally routable unicast, judging any IPv4 address an IPv6 one carries."""
    ip = ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return is_public_address(embedded)
        if ip.scope_id is not None or ip not in _GLOBAL_UNICAST:
            return False
    if any(ip in network for network in _REFUSED_NETWORKS if network.version == ip.version):
        return False
    special = (ip.is_private, ip.is_loopback, ip.is_link_local, ip.is_multicast, ip.is_reserved)
    return ip.is_global and not ip.is_unspecified and not any(special)


def connect_address(address: IPAddress) -> IPAddress:
    """The address to open a socket to: an IPv4-mapped IPv6 address becomes its IPv4 address."""
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _ipv4_number(part: str) -> int:
    """One dotted part read as inet_aton reads it: 0x hex, leading-zero octal, else decimal."""
    if part[:2] in ("0x", "0X"):
        digits, base = part[2:], 16
        if not digits:
            return 0
    elif len(part) > 1 and part.startswith("0"):
        digits, base = part[1:], 8
    else:
        digits, base = part, 10
    if not digits or not set(digits) <= _DIGITS_BY_BASE[base]:
        raise ValueError("not an IPv4 number")
    return int(digits, base)


def _ends_in_number(labels: list[str]) -> bool:
    """Whether a host's last label is a number, which makes the whole host an IPv4 address."""
    last = labels[-1]
    if last[:2] in ("0x", "0X"):
        return set(last[2:]) <= _HEX_DIGITS
    return bool(last) and set(last) <= _DIGITS_BY_BASE[10]


def _parse_ipv4_host(labels: list[str]) -> IPv4Address:
    """A numeric host in any inet_aton form (one to four parts, each decimal, octal or hex)."""
    if len(labels) > 4 or "" in labels:
        raise ValueError("not an IPv4 address")
    numbers = [_ipv4_number(label) for label in labels]
    if any(number > 255 for number in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        raise ValueError("IPv4 part out of range")
    value = numbers[-1] + sum(number << (8 * (3 - index)) for index, number in enumerate(numbers[:-1]))
    return IPv4Address(value)


def parse_address_host(host: str) -> IPAddress | None:
    """The address a URL host denotes literally, or None for a DNS name; ValueError when malformed."""
    if ":" in host:
        if "%" in host:
            raise ValueError("zoned IPv6 addresses are not accepted")
        return IPv6Address(host)
    labels = host.split(".")
    if len(labels) > 1 and not labels[-1]:
        labels.pop()
    if not _ends_in_number(labels):
        return None
    return _parse_ipv4_host(labels)


def is_allowlisted(host: str, port: int, allowlist: Collection[str]) -> bool:
    """Whether host and port are on the allow-list: exact names (case and a trailing dot ignored), each
    on every port or, written ``name:port`` (``[v6]:port`` for an IPv6 address), on that port alone."""
    wanted = _normal_host(host)
    return any(
        name == wanted and entry_port in (None, port) for name, entry_port in map(allowlist_entry, allowlist)
    )


def allowlist_entry(entry: str) -> tuple[str, int | None]:
    """An allow-list entry as (host, port or None for every port); a port that is not 1-65535 matches none."""
    text = entry.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = None if not rest else rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, None
    if port_text is None:
        return _normal_host(host), None
    port = int(port_text) if port_text.isascii() and port_text.isdigit() else 0
    return _normal_host(host), port if 1 <= port <= 65535 else -1


def _normal_host(host: str) -> str:
    return host.strip().lower().rstrip(".").removeprefix("[").removesuffix("]")


def _refuse(label: str, problem: str) -> SwapError:
    """A URL_NOT_ALLOWED error naming which URL is wrong."""
    return SwapError(ErrorCode.URL_NOT_ALLOWED, f"The {label} URL {problem}.")


def _parse(url: str, label: str) -> httpx.URL:
    """The URL parsed by httpx, after refusing what parsers disagree about."""
    if len(url) > MAX_URL_LENGTH:
        raise _refuse(label, f"is too long (at most {MAX_URL_LENGTH} characters)")
    if "\\" in url or any(ord(char) < 0x20 or ord(char) == 0x7F for char in url):
        raise _refuse(label, "contains a backslash or a control character")
    try:
        return httpx.URL(url)
    except (httpx.InvalidURL, ValueError, UnicodeError) as exc:
        raise _refuse(label, "is not a valid web address") from exc


def _literal_address(host: str, label: str) -> IPAddress | None:
    """The host's literal address, or None for a name; refuses malformed hosts."""
    try:
        address = parse_address_host(host)
    except ValueError as exc:
        raise _refuse(label, "has a malformed host address") from exc
    if address is None and not set(host) <= _HOST_NAME_CHARACTERS:
        raise _refuse(label, "has a host name with characters that are not allowed")
    if address is None and not _valid_idna(host):
        raise _refuse(label, "has an international host name that is not valid")
    return address


def _valid_idna(host: str) -> bool:
    """Whether every punycode label ("xn--...") decodes to a name IDNA 2008 allows, as the client needs."""
    try:
        for label in host.split("."):
            if label.startswith("xn--"):
                idna.decode(label)
    except (idna.IDNAError, UnicodeError):
        return False
    return True


def check_url(
    url: str, *, allowlist: Collection[str] = (), allow_private: bool = False, label: str = "image"
) -> ParsedTarget:
    """Parse and check an image URL against the policy above, or raise URL_NOT_ALLOWED."""
    parsed = _parse(url.strip(" \t\r\n"), label)
    if parsed.scheme not in ALLOWED_SCHEMES:
        raise _refuse(label, "must start with http:// or https://")
    if parsed.userinfo:
        raise _refuse(label, "must not contain a user name or password")
    host = parsed.raw_host.decode("ascii")
    if not host:
        raise _refuse(label, "has no host name")
    port = DEFAULT_PORTS[parsed.scheme] if parsed.port is None else parsed.port
    if not 1 <= port <= 65535:
        raise _refuse(label, "has a port outside 1 to 65535")
    address = _literal_address(host, label)
    widened = allow_private or is_allowlisted(host, port, allowlist)
    if address is not None and not widened and not is_public_address(address):
        raise _refuse(label, "points to a private or reserved network address")
    return ParsedTarget(url=parsed, scheme=parsed.scheme, host=host, port=port, address=address)
