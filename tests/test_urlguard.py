"""The URL and address policy: table-driven forgery attempts and properties over every textual form."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from faceswap import urlguard
from faceswap.errors import ErrorCode, SwapError
from faceswap.urlguard import (
    MAX_URL_LENGTH,
    ParsedTarget,
    allowlist_entry,
    check_url,
    connect_address,
    is_allowlisted,
    is_public_address,
    parse_address_host,
)

REFUSED_IPV4 = [
    IPv4Network(network)
    for network in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
    )
]
PUBLIC_IPV4 = [IPv4Network(network) for network in ("1.0.0.0/8", "8.0.0.0/8", "34.0.0.0/8", "151.101.0.0/16")]
PUBLIC_IPV6 = [IPv6Network(network) for network in ("2606:4700::/32", "2a00:1450::/32", "2001:4860::/32")]


def addresses_in(networks: list[IPv4Network]) -> st.SearchStrategy[IPv4Address]:
    """Any address inside one of the networks."""
    return st.sampled_from(networks).flatmap(
        lambda net: st.integers(int(net.network_address), int(net.broadcast_address)).map(IPv4Address)
    )


def ipv6_addresses_in(networks: list[IPv6Network]) -> st.SearchStrategy[IPv6Address]:
    """Any IPv6 address inside one of the networks."""
    return st.sampled_from(networks).flatmap(
        lambda net: st.integers(int(net.network_address), int(net.broadcast_address)).map(IPv6Address)
    )


def host_forms(address: IPv4Address) -> list[str]:
    """The textual forms a URL host can give one IPv4 address."""
    value = int(address)
    octets = address.packed
    return [
        str(address),
        str(value),
        hex(value),
        "0x" + format(value, "08X"),
        ".".join(oct(octet).replace("0o", "0") for octet in octets),
        ".".join(hex(octet) for octet in octets),
        f"{octets[0]}.{value & 0xFFFFFF}",
        f"{octets[0]}.{octets[1]}.{value & 0xFFFF}",
        f"{address}.",
        f"[::ffff:{address}]",
        f"[::ffff:{value >> 16:x}:{value & 0xFFFF:x}]",
        f"[0:0:0:0:0:ffff:{address}]",
        f"[64:ff9b::{address}]",
    ]


def refused(url: str, **kwargs: Any) -> SwapError:
    """The URL_NOT_ALLOWED error check_url raises for a URL."""
    with pytest.raises(SwapError) as caught:
        check_url(url, **kwargs)
    assert caught.value.code is ErrorCode.URL_NOT_ALLOWED
    return caught.value


def check_or_error(url: str) -> ParsedTarget | SwapError:
    """What check_url makes of a URL: the target, or the error it raised."""
    try:
        return check_url(url)
    except SwapError as error:
        return error


def test_public_names_are_pinned() -> None:
    assert urlguard.__all__ == [
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


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0177.0.0.1/",
        "http://0x7f.1/",
        "http://127.1/",
        "http://127.0.0.1./",
        "http://0/",
        "http://0.0.0.0/",
        "http://[::]/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:7f00:1]/",
        "http://[0:0:0:0:0:ffff:127.0.0.1]/",
        "http://[::127.0.0.1]/",
        "http://[64:ff9b::127.0.0.1]/",
        "http://[2002:7f00:1::]/",
        "http://[fe80::1%25eth0]/",
        "http://[fe80::1]/",
        "http://[fd00::1]/",
        "http://[fc00::1]/",
        "http://[ff02::1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://100.64.0.1/",
        "http://10.0.0.1/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://224.0.0.1/",
        "http://239.255.255.250:1900/",
        "http://255.255.255.255/",
        "http://198.18.0.1/",
        "http://1.2.3.4.5/",
        "http://256.1.1.1/",
        "http://0x100000000/",
        "http://1.0x1000000/",
        "http://good.example@127.0.0.1/",
        "http://user:secret@good.example/",
        "http://good.example\\@127.0.0.1/",
        "http://127.0.0.1\\@good.example/",
        "http:/\\127.0.0.1/",
        "http://127.0.0.1#@good.example/",
        "http://good.ex%61mple/",
        "http://exa mple.com/",
        "http://good.example\n.evil/",
        "file:///etc/passwd",
        "ftp://good.example/image.png",
        "gopher://127.0.0.1:6379/_FLUSHALL",
        "dict://127.0.0.1:11211/stat",
        "data:image/png;base64,iVBORw0KGgo=",
        "javascript:alert(1)",
        "//good.example/image.png",
        "good.example/image.png",
        "http:///image.png",
        "http://:80/",
        "http://good.example:0/",
        "http://good.example:65536/",
        "http://[::1",
        "http://good.example/" + "a" * MAX_URL_LENGTH,
    ],
)
def test_forgery_attempt_is_refused(url: str) -> None:
    error = refused(url)
    assert error.message.startswith("The image URL ")
    assert "127.0.0.1" not in error.message


@pytest.mark.parametrize(
    ("url", "host", "port", "address"),
    [
        ("https://images.example.com/a/b.png?sig=1", "images.example.com", 443, None),
        ("HTTP://Images.Example.COM:8080/x.jpg", "images.example.com", 8080, None),
        ("http://8.8.8.8/x.png", "8.8.8.8", 80, IPv4Address("8.8.8.8")),
        ("http://134744072/x.png", "134744072", 80, IPv4Address("8.8.8.8")),
        ("https://[2606:4700::1111]:8443/x", "2606:4700::1111", 8443, IPv6Address("2606:4700::1111")),
        ("https://münchen.example/x.png", "xn--mnchen-3ya.example", 443, None),
        ("  https://cdn.example/x.webp\n", "cdn.example", 443, None),
        ("https://bucket_name.storage.example/x.png", "bucket_name.storage.example", 443, None),
    ],
)
def test_public_url_is_parsed(url: str, host: str, port: int, address: IPv4Address | None) -> None:
    target = check_url(url)
    assert (target.host, target.port, target.address) == (host, port, address)
    assert target.scheme in ("http", "https")
    assert target.url.raw_host.decode("ascii") == host


def test_message_names_the_image_and_the_problem() -> None:
    assert refused("ftp://x/", label="source image").message == (
        "The source image URL must start with http:// or https://."
    )
    assert "user name or password" in refused("http://a:b@x/").message
    assert "private or reserved" in refused("http://10.1.2.3/", label="target image").message
    assert str(MAX_URL_LENGTH) in refused("http://x/" + "a" * MAX_URL_LENGTH).message


def test_allow_private_widens_literal_addresses_only() -> None:
    assert check_url("http://127.0.0.1:8000/x", allow_private=True).address == IPv4Address("127.0.0.1")
    refused("file:///etc/passwd", allow_private=True)
    refused("http://u:p@127.0.0.1/", allow_private=True)


def test_allowlisted_host_may_be_a_private_literal_but_not_carry_credentials() -> None:
    assert check_url("http://10.0.0.5/x", allowlist=("10.0.0.5",)).host == "10.0.0.5"
    refused("http://10.0.0.6/x", allowlist=("10.0.0.5",))
    refused("http://u:p@storage.internal/x", allowlist=("storage.internal",))


def test_allowlist_matches_exact_names_ignoring_case_and_trailing_dot() -> None:
    assert is_allowlisted("Bucket.Example.", 443, ["bucket.example"])
    assert not is_allowlisted("evil-bucket.example", 443, ["bucket.example"])
    assert not is_allowlisted("bucket.example.evil", 443, ["bucket.example"])


@pytest.mark.parametrize(
    ("entry", "parsed"),
    [
        ("Bucket.Example.", ("bucket.example", None)),
        ("bucket.example:9000", ("bucket.example", 9000)),
        (" Bucket.Example.:9000 ", ("bucket.example", 9000)),
        ("10.0.0.5:80", ("10.0.0.5", 80)),
        ("[fd00::5]:8080", ("fd00::5", 8080)),
        ("[fd00::5]", ("fd00::5", None)),
        ("fd00::5", ("fd00::5", None)),
        ("bucket.example:0", ("bucket.example", -1)),
        ("bucket.example:65536", ("bucket.example", -1)),
        ("bucket.example:http", ("bucket.example", -1)),
        ("bucket.example:", ("bucket.example", -1)),
        ("[fd00::5]9000", ("fd00::5", -1)),
        ("[fd00::5]x", ("fd00::5", -1)),
    ],
)
def test_allowlist_entries_name_a_host_and_maybe_one_port(entry: str, parsed: tuple[str, int | None]) -> None:
    assert allowlist_entry(entry) == parsed


def test_an_entry_with_a_port_widens_that_port_only() -> None:
    assert check_url("http://10.0.0.5:9000/x", allowlist=("10.0.0.5:9000",)).port == 9000
    refused("http://10.0.0.5:9001/x", allowlist=("10.0.0.5:9000",))
    refused("http://10.0.0.5/x", allowlist=("10.0.0.5:9000",))
    assert check_url("http://[fd00::5]:8080/x", allowlist=("[fd00::5]:8080",)).port == 8080
    refused("http://[fd00::5]:8081/x", allowlist=("[fd00::5]:8080",))
    assert not is_allowlisted("bucket.example", 9000, ["bucket.example:0"])


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0X7F.0.0.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("10.1.65535", "10.1.255.255"),
        ("0x", "0.0.0.0"),
        ("1.2.3.4.", "1.2.3.4"),
        ("::ffff:7f00:1", "::ffff:127.0.0.1"),
    ],
)
def test_numeric_host_is_read_like_inet_aton(host: str, address: str) -> None:
    assert parse_address_host(host) == ip_address(address)


@pytest.mark.parametrize("host", ["example.com", "127.0.0.1.nip.io", "0x7f.example", "a1", "0xg"])
def test_name_is_not_an_address(host: str) -> None:
    assert parse_address_host(host) is None


@pytest.mark.parametrize(
    "host", ["08.0.0.1", "1.2.3.4.5", "256.0.0.1", "1.16777216", "0xg.1", "1..2", "fe80::1%eth0"]
)
def test_malformed_numeric_host_is_an_error(host: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        parse_address_host(host)


@pytest.mark.parametrize(
    "address",
    [
        "0.0.0.0",
        "100.64.0.1",
        "169.254.169.254",
        "224.0.0.1",
        "239.1.1.1",
        "192.88.99.1",
        "::",
        "::1",
        "::8.8.8.8",
        "2002:808:808::1",
        "2001::1",
        "fd00::1",
        "fec0::1",
        "ff0e::1",
        "fe80::1%eth0",
        "::ffff:10.0.0.1",
        "64:ff9b::a00:1",
    ],
)
def test_special_address_is_not_public(address: str) -> None:
    assert not is_public_address(address)


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
)
def test_public_address_is_public(address: str) -> None:
    assert is_public_address(address)


def test_mapped_address_connects_over_ipv4() -> None:
    assert connect_address(IPv6Address("::ffff:8.8.8.8")) == IPv4Address("8.8.8.8")
    assert connect_address(IPv6Address("2606:4700::1111")) == IPv6Address("2606:4700::1111")


@given(addresses_in(REFUSED_IPV4))
@example(IPv4Address("127.0.0.1"))
@example(IPv4Address("169.254.169.254"))
def test_refused_ipv4_is_refused_in_every_textual_form(address: IPv4Address) -> None:
    for form in host_forms(address):
        refused(f"http://{form}/image.png")


@given(addresses_in(PUBLIC_IPV4))
def test_public_ipv4_is_allowed_in_unambiguous_forms(address: IPv4Address) -> None:
    for form in (str(address), str(int(address)), hex(int(address)), f"[::ffff:{address}]"):
        assert check_url(f"https://{form}/x.png").address is not None
    assert is_public_address(address)


@given(ipv6_addresses_in(PUBLIC_IPV6))
def test_public_ipv6_is_allowed(address: IPv6Address) -> None:
    assert check_url(f"https://[{address}]/x.png").address == address


@given(st.integers(0, 2**32 - 1).map(IPv4Address))
def test_embedded_ipv4_is_judged_like_the_ipv4_address(address: IPv4Address) -> None:
    mapped = IPv6Address(f"::ffff:{address}")
    nat64 = IPv6Address(f"64:ff9b::{address}")
    assert is_public_address(address) == is_public_address(mapped) == is_public_address(nat64)


@given(st.integers(0, 2**32 - 1).map(IPv4Address))
def test_no_address_in_a_refused_network_is_public(address: IPv4Address) -> None:
    assert not (is_public_address(address) and any(address in network for network in REFUSED_IPV4))


URL_ALPHABET = st.sampled_from([*"abcxyz0179.:/@[]%#?\\-_ fF", "0x", "::", "ffff", "127", "%25", "\n"])


@given(
    st.sampled_from(["http://", "https://", "HTTP://", "file://", "", "//", "http:"]),
    st.lists(URL_ALPHABET, max_size=40).map("".join),
)
def test_random_url_is_refused_only_with_swap_error(prefix: str, rest: str) -> None:
    outcome = check_or_error(prefix + rest)
    if isinstance(outcome, SwapError):
        assert outcome.code is ErrorCode.URL_NOT_ALLOWED
    else:
        assert outcome.scheme in ("http", "https")
        assert outcome.host
        assert outcome.address is None or is_public_address(outcome.address)


@given(st.text(max_size=200))
def test_arbitrary_text_is_refused_only_with_swap_error(text: str) -> None:
    outcome = check_or_error(text)
    if isinstance(outcome, SwapError):
        assert outcome.code is ErrorCode.URL_NOT_ALLOWED
    else:
        assert outcome.address is None or is_public_address(outcome.address)
