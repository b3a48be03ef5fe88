"""Which webhook URLs may be called: http(s) only, inside the operator's networks, never this host.

Two settings shape the policy: `MEMORY_API_WEBHOOK_DESTINATION_NETWORKS` narrows it (only these
networks), `MEMORY_API_WEBHOOK_ALLOWED_NETWORKS` widens it (these blocked ranges after all).
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from urllib.parse import urlsplit

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048

# Addresses a webhook must never reach unless MEMORY_API_WEBHOOK_ALLOWED_NETWORKS allows them:
# the server itself (loopback, and every address of its interfaces: `is_this_host`),
# link-local (where cloud metadata services live) and metadata hosts. Private LAN ranges
# are allowed: this is a LAN product.
BLOCKED_NETWORKS: dict[str, tuple[Network, ...]] = {
    "loopback": (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")),
    "link-local": (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10")),
    "cloud metadata": (
        ipaddress.ip_network("fd00:ec2::254/128"),  # AWS over IPv6
        ipaddress.ip_network("100.100.100.200/32"),  # Alibaba Cloud
    ),
    "unspecified": (ipaddress.ip_network("0.0.0.0/8"), ipaddress.ip_network("::/128")),
    "multicast": (ipaddress.ip_network("224.0.0.0/4"), ipaddress.ip_network("ff00::/8")),
    "broadcast": (ipaddress.ip_network("255.255.255.255/32"),),
    # RFC 8215's NAT64 prefix for local use: where it leads depends on the local network.
    "local-use NAT64": (ipaddress.ip_network("64:ff9b:1::/48"),),
}


# The URLs webhooks accept, as one regex the OpenAPI document shares: http(s), a DNS name,
# IPv4 or bracketed IPv6 host (no credentials), a port 1-65535, then printable ASCII.
_H16 = "[0-9A-Fa-f]{1,4}"
_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_LS32 = rf"(?:{_H16}:{_H16}|{_OCTET}(?:\.{_OCTET}){{3}})"
_IPV6 = "|".join(  # RFC 3986's IPv6address, one alternative per line of its grammar
    [
        rf"(?:{_H16}:){{6}}{_LS32}",
        rf"::(?:{_H16}:){{5}}{_LS32}",
        rf"(?:{_H16})?::(?:{_H16}:){{4}}{_LS32}",
        rf"(?:(?:{_H16}:){{0,1}}{_H16})?::(?:{_H16}:){{3}}{_LS32}",
        rf"(?:(?:{_H16}:){{0,2}}{_H16})?::(?:{_H16}:){{2}}{_LS32}",
        rf"(?:(?:{_H16}:){{0,3}}{_H16})?::{_H16}:{_LS32}",
        rf"(?:(?:{_H16}:){{0,4}}{_H16})?::{_LS32}",
        rf"(?:(?:{_H16}:){{0,5}}{_H16})?::{_H16}",
        rf"(?:(?:{_H16}:){{0,6}}{_H16})?::",
    ]
)
_HOST = rf"(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[(?:{_IPV6})\])"
_PORT = "(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
URL_PATTERN = rf"^https?://{_HOST}(?::{_PORT})?(?:[/?#][!-~]*)?\Z"
_URL = re.compile(URL_PATTERN)


class UnsafeURL(ValueError):
    """A webhook URL that may not be called; the message says why."""


class InvalidURL(UnsafeURL):
    """Not a URL webhooks can use at all (scheme, syntax, credentials, length): a client error."""


class RefusedURL(UnsafeURL):
    """A well-formed URL whose addresses this server's network policy does not let it call."""


class UnresolvedHost(UnsafeURL):
    """The URL's host name does not resolve (now): a delivery fails and is retried."""


@dataclass(frozen=True)
class NetworkPolicy:
    """Where webhooks may go: inside `destinations` (if any), and never a blocked range.

    `allowed` lifts the block on ranges an operator means, e.g. `127.0.0.0/8` for a receiver
    on this machine; `destinations` set means every address must be inside one of them.
    """

    allowed: tuple[Network, ...] = ()
    destinations: tuple[Network, ...] = ()

    def refusal(self, address: Address) -> str | None:
        """Why this address may not be called, or None if it may.

        An IPv6 address that carries an IPv4 one (IPv4-compatible, -translated, NAT64, 6to4,
        Teredo) is judged by both: a network may deliver it to the IPv4 address inside.
        """
        if self.destinations and not _inside(address, self.destinations):
            return (
                "outside MEMORY_API_WEBHOOK_DESTINATION_NETWORKS, the only networks this "
                "server's webhooks may call"
            )
        for candidate in (address, *embedded_ipv4(address)):
            if _inside(candidate, self.allowed):
                continue
            kind = blocked_kind(candidate)
            if kind:
                inside = f"it carries {candidate}, " if candidate != address else ""
                return (
                    f"{inside}{kind}, which webhooks may not call unless "
                    "MEMORY_API_WEBHOOK_ALLOWED_NETWORKS allows it"
                )
        return None


@dataclass(frozen=True)
class Target:
    """A checked URL and the addresses it resolved to, all allowed."""

    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]

    @property
    def host_header(self) -> str:
        """The Host header: the name, with the port unless it is the scheme's default."""
        default = 443 if self.scheme == "https" else 80
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == default else f"{name}:{self.port}"


def parse_networks(raw: str) -> tuple[Network, ...]:
    """`127.0.0.0/8, ::1/128` -> networks (for MEMORY_API_WEBHOOK_ALLOWED_NETWORKS)."""
    networks = []
    for part in filter(None, (p.strip() for p in raw.split(","))):
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError as exc:
            raise ValueError(f"{part!r} is not a network like 127.0.0.0/8") from exc
    return tuple(networks)


DEFAULT_POLICY = NetworkPolicy()


def check_url(
    url: str,
    policy: NetworkPolicy = DEFAULT_POLICY,
    *,
    unresolved_ok: bool = False,
    resolve_timeout: float | None = None,
) -> Target:
    """Parse, resolve and vet a webhook URL; raise InvalidURL or RefusedURL with the reason.

    `unresolved_ok` (registration): a host DNS cannot resolve now is accepted with no
    addresses, since every delivery resolves and vets it again. `resolve_timeout`: give up
    on a resolver that has not answered in that many seconds (the host is then unresolved).
    """
    if len(url) > MAX_URL_LENGTH:
        raise InvalidURL(f"URL is longer than {MAX_URL_LENGTH} characters")
    if not url.startswith(("http://", "https://")):
        raise InvalidURL("URL must start with http:// or https://")
    if "@" in re.split(r"[/?#]", url.partition("://")[2], maxsplit=1)[0]:  # the authority
        raise InvalidURL("URL must not contain credentials; sign-in is by the webhook signature")
    if not _URL.match(url):
        raise InvalidURL(
            "not a valid URL: use http(s)://host[:port][/path], a host name, IPv4 or [IPv6] "
            "address, a port 1-65535, printable ASCII without spaces"
        )
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = _resolve_within(parts.hostname, port, resolve_timeout)
    except UnresolvedHost:
        if not unresolved_ok:
            raise
        addresses = []
    for address in addresses:
        reason = policy.refusal(address)
        if reason:
            raise RefusedURL(f"{parts.hostname} resolves to {address}, {reason}")
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    return Target(parts.scheme, parts.hostname, port, path, tuple(str(a) for a in addresses))


_lookups: ThreadPoolExecutor | None = None
_lookups_lock = threading.Lock()


def _resolve_within(host: str, port: int, timeout: float | None) -> list[Address]:
    """`_resolve`, giving up after `timeout` seconds (the lookup itself cannot be stopped)."""
    if timeout is None or _is_address(host):
        return _resolve(host, port)
    global _lookups
    with _lookups_lock:  # made on first use: after any fork, in the process that uses it
        if _lookups is None:
            _lookups = ThreadPoolExecutor(4, thread_name_prefix="resolve")
    try:
        return _lookups.submit(_resolve, host, port).result(timeout)
    except FutureTimeout as exc:
        raise UnresolvedHost(f"cannot resolve host {host!r}: no answer in {timeout:g} s") from exc


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _resolve(host: str, port: int) -> list[Address]:
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnresolvedHost(f"cannot resolve host {host!r}") from exc
    addresses: list[Address] = []
    for *_, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        # ::ffff:127.0.0.1 is 127.0.0.1: judge IPv4-mapped addresses as IPv4.
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if address not in addresses:
            addresses.append(address)
    return addresses


def _inside(address: Address, networks: Sequence[Network]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


# IPv6 ranges whose last 32 bits are an IPv4 address a network may deliver to.
_LOW_32_BITS_IPV4 = (
    ipaddress.ip_network("::/96"),  # IPv4-compatible (deprecated), ::127.0.0.1
    ipaddress.ip_network("::ffff:0:0:0/96"),  # IPv4-translated, ::ffff:0:127.0.0.1
    ipaddress.ip_network("64:ff9b::/96"),  # NAT64 well-known prefix, 64:ff9b::127.0.0.1
)


def embedded_ipv4(address: Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (none for IPv4 or plain IPv6)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    found = []
    # :: and ::1 are IPv6's own unspecified and loopback addresses, not IPv4-compatible ones.
    if int(address) > 1 and any(address in net for net in _LOW_32_BITS_IPV4):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    if address.sixtofour is not None:  # 2002:7f00:1::1 is 127.0.0.1's 6to4 network
        found.append(address.sixtofour)
    if address.teredo is not None:  # (server, client)
        found.extend(address.teredo)
    return found


def blocked_kind(address: Address) -> str | None:
    """What makes an address one webhooks never call by default, if anything does."""
    for kind, networks in BLOCKED_NETWORKS.items():
        if _inside(address, networks):
            return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} address"
    if is_this_host(address):
        return "an address of this host"
    return None


# Addresses no host has (documentation ranges): if one binds, this host binds any address.
_CANARIES = {4: "198.51.100.254", 6: "2001:db8::fe"}


def is_this_host(address: Address) -> bool:
    """Whether the address belongs to one of this host's interfaces, as they are right now.

    Binding a UDP socket to an address succeeds only on an address of this host (and sends
    nothing). Where the kernel lets programs bind any address (`ip_nonlocal_bind`) this
    cannot tell, and the answer is no: set MEMORY_API_WEBHOOK_DESTINATION_NETWORKS there.
    """
    canary = ipaddress.ip_address(_CANARIES[address.version])
    return _binds(address) and not _binds(canary)


def _binds(address: Address) -> bool:
    family = socket.AF_INET if address.version == 4 else socket.AF_INET6
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.bind((str(address), 0))
    except OSError:
        return False
    return True
