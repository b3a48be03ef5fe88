"""The network rule of this repository, enforced: a test process may reach only loopback.

Not a mock of anything the product does: the server still resolves and connects for real.
This guard makes a test that would let traffic out (a webhook to a LAN or public address,
a DNS query to the resolver) fail instead, whatever the server's own policy says. It is
installed in the pytest process by conftest.py and, through `sitecustomize.py` beside it on
PYTHONPATH, in every process a test starts (servers, CLI commands, Schemathesis).
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
import sys
from pathlib import Path

LOOPBACK = ("127.0.0.0/8", "::1/128")
# What tests hand to every server they start: webhooks limited to loopback receivers.
WEBHOOK_ENV = {"MEMORY_API_WEBHOOK_DESTINATION_NETWORKS": ",".join(LOOPBACK)}
GUARD_PATH = Path(__file__).resolve().parent
MARK = "NETWORK GUARD refused"

refused: list[str] = []  # connections this process was stopped from making
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_sendto = socket.socket.sendto
_real_getaddrinfo = socket.getaddrinfo
_real_sendmsg = socket.socket.sendmsg
_real_gethostbyname = socket.gethostbyname
_real_gethostbyname_ex = socket.gethostbyname_ex
_real_gethostbyaddr = socket.gethostbyaddr
_real_getnameinfo = socket.getnameinfo


def is_loopback(host: str) -> bool:
    """Whether an address (IPv4, IPv6, IPv4-mapped IPv6) is on this machine's loopback."""
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_loopback


def _refuse(what: str) -> OSError:
    refused.append(what)
    print(f"{MARK} {what} (pid {os.getpid()})", file=sys.stderr, flush=True)
    return OSError(errno.ENETUNREACH, f"{MARK} {what}: tests may reach only loopback")


def _check(sock: socket.socket, address: object) -> None:
    inet = sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple)
    if inet and not is_loopback(str(address[0])):
        raise _refuse(f"a connection to {address[0]}")


def _connect(self: socket.socket, address: object) -> None:
    _check(self, address)
    return _real_connect(self, address)


def _connect_ex(self: socket.socket, address: object) -> int:
    _check(self, address)
    return _real_connect_ex(self, address)


def _sendto(self: socket.socket, data: bytes, *args: object) -> int:
    _check(self, args[-1])
    return _real_sendto(self, data, *args)


def _sendmsg(self: socket.socket, buffers: object, *args: object) -> int:
    if len(args) >= 3:  # (ancdata, flags, address)
        _check(self, args[2])
    return _real_sendmsg(self, buffers, *args)


def _resolvable(name: object) -> bool:
    """A name that resolves without DNS: an address in any form, localhost, or none."""
    name = name.decode() if isinstance(name, bytes) else name
    return name is None or name == "localhost" or _is_address(str(name))


def _no_dns(name: object) -> socket.gaierror:
    return socket.gaierror(socket.EAI_NONAME, f"no DNS in tests: {name} is not resolved")


def _gethostbyname(name: str) -> str:
    if not _resolvable(name):
        raise _no_dns(name)
    return _real_gethostbyname(name)


def _gethostbyname_ex(name: str) -> tuple:
    if not _resolvable(name):
        raise _no_dns(name)
    return _real_gethostbyname_ex(name)


def _gethostbyaddr(address: str) -> tuple:
    # A reverse lookup of anything but loopback would ask the resolver.
    if not (address == "localhost" or is_loopback(address)):
        raise socket.herror(1, f"no DNS in tests: no reverse lookup of {address}")
    return _real_gethostbyaddr(address)


def _getnameinfo(sockaddr: tuple, flags: int) -> tuple:
    if not (flags & socket.NI_NUMERICHOST or is_loopback(str(sockaddr[0]))):
        raise _no_dns(sockaddr[0])
    return _real_getnameinfo(sockaddr, flags)


def _getaddrinfo(host: object, *args: object, **kwargs: object) -> list:
    # A name resolves without the network only when it is an address or localhost; any
    # other name would be a DNS query to the resolver, so it fails as unresolvable.
    # That is how tests see a name DNS does not know (the server registers it and retries
    # its deliveries), so it is answered, not counted as a refusal.
    if _resolvable(host):
        return _real_getaddrinfo(host, *args, **kwargs)
    raise _no_dns(host)


def _is_address(name: str) -> bool:
    """An IP address in any form getaddrinfo reads without DNS (`2130706433` and `0` too)."""
    try:
        ipaddress.ip_address(name.split("%")[0])
    except ValueError:
        try:
            socket.inet_aton(name)
        except (OSError, ValueError):
            return False
    return True


def install() -> None:
    """Guard this process's sockets (idempotent)."""
    socket.socket.connect = _connect
    socket.socket.connect_ex = _connect_ex
    socket.socket.sendto = _sendto
    socket.socket.sendmsg = _sendmsg
    socket.getaddrinfo = _getaddrinfo
    socket.gethostbyname = _gethostbyname
    socket.gethostbyname_ex = _gethostbyname_ex
    socket.gethostbyaddr = _gethostbyaddr
    socket.getnameinfo = _getnameinfo


def subprocess_env(env: dict[str, str]) -> dict[str, str]:
    """`env` for a server a test starts: the guard on its PYTHONPATH, webhooks on loopback."""
    paths = [str(GUARD_PATH), *env.get("PYTHONPATH", "").split(os.pathsep)]
    unique = [p for p in dict.fromkeys(paths) if p]
    return {**env, **WEBHOOK_ENV, "PYTHONPATH": os.pathsep.join(unique)}


def check_loopback_only(env: dict[str, str]) -> None:
    """Refuse a test server whose webhooks could call anything but loopback."""
    raw = env.get("MEMORY_API_WEBHOOK_DESTINATION_NETWORKS", "")
    networks = [ipaddress.ip_network(p.strip()) for p in raw.split(",") if p.strip()]
    if not networks or not all(
        n.network_address.is_loopback and n.broadcast_address.is_loopback for n in networks
    ):
        raise ValueError(
            "tests must limit webhooks to loopback, not "
            f"MEMORY_API_WEBHOOK_DESTINATION_NETWORKS={raw!r}"
        )
