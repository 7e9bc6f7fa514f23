"""Outbound HTTP for webhooks and notifications, guarded against SSRF.

Every send: http(s) only; the host is resolved once and every address checked (private,
loopback, link-local, CGNAT, multicast, reserved, IPv4-mapped/NAT64/6to4 unwrapped, cloud
metadata) unless the block allows private URLs or the operator allow-list admits the
target; the connection goes to the checked address with the original Host header and
TLS server name (no DNS rebinding); redirects are never followed; every call has a
timeout and reads at most `max_response_bytes`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import SplitResult, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Cloud metadata endpoints: refused even when a block allows private URLs; only the
# operator allow-list can admit them.
METADATA_ADDRESSES = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),
        ipaddress.ip_address("169.254.170.2"),
        ipaddress.ip_address("100.100.100.200"),
        ipaddress.ip_address("fd00:ec2::254"),
    }
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SIXTOFOUR = ipaddress.ip_network("2002::/16")


class UnsafeTargetError(Exception):
    """The target may not be called (scheme, address); permanent: do not retry."""


# The first name of UnsafeTargetError, which notify.py imports.
UnsafeTarget = UnsafeTargetError


class TransportError(Exception):
    """The call did not complete (DNS, connect, timeout, TLS); may work later."""


@dataclass(frozen=True)
class OutboundRequest:
    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    allow_private: bool = False
    verify: bool = True


@dataclass(frozen=True)
class OutboundResponse:
    status_code: int
    headers: dict[str, str]
    body: bytes
    truncated: bool
    # The address actually connected to, for logs.
    address: str


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    # IPv4-compatible (deprecated) ::a.b.c.d
    if int(address) >> 32 == 0 and int(address) > 1:
        return ipaddress.IPv4Address(int(address))
    return None


def address_problem(address: IPAddress) -> str | None:
    """Why an address is not a public one (None when it is)."""
    inner = _embedded_ipv4(address)
    if inner is not None:
        problem = address_problem(inner)
        return f"{problem} inside an IPv6 address" if problem else None
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address.is_unspecified:
        return "unspecified"
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return "shared (CGNAT)"
    if address.is_private:
        return "private"
    if address.is_reserved or not address.is_global:
        return "reserved"
    return None


@dataclass(frozen=True)
class Allowlist:
    """What the operator admits although private: CIDRs and host names."""

    networks: tuple[Network, ...] = ()
    hosts: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> Allowlist:
        networks: list[Network] = []
        hosts: set[str] = set()
        for entry in (e.strip() for e in entries):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(tuple(networks), frozenset(hosts))

    def admits(self, host: str, address: IPAddress) -> bool:
        return host.lower().rstrip(".") in self.hosts or any(
            address.version == n.version and address in n for n in self.networks
        )


@dataclass(frozen=True)
class Target:
    """A checked destination: connect to `address`, present `host`."""

    scheme: str
    host: str
    port: int
    address: IPAddress


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, refusing names with any unsafe address.

    aiohttp connects only to what its resolver returns, so the check and the connection
    see the same addresses (no DNS rebinding), and pooled connections stay keyed by host.
    """

    def __init__(self, policy: AddressPolicy, allow_private: bool) -> None:
        self._policy = policy
        self._allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        infos = await _lookup(host, port, self._policy.timeout_seconds, family)
        self._policy.refuse_unsafe(host, [address for address, _ in infos], self._allow_private)
        return [
            ResolveResult(
                hostname=host,
                host=str(address),
                port=port,
                family=info_family,
                proto=0,
                flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            )
            for address, info_family in infos
        ]

    async def close(self) -> None:
        return None


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses may be called: public ones, plus what the block or operator admits."""

    allowlist: Allowlist
    timeout_seconds: float

    def refuse_unsafe(self, host: str, addresses: list[IPAddress], allow_private: bool) -> None:
        """Raise UnsafeTargetError unless every address may be called."""
        for address in addresses:
            if self.allowlist.admits(host, address):
                continue
            problem = address_problem(address)
            if problem is None:
                continue
            if allow_private and address not in METADATA_ADDRESSES:
                continue
            hint = (
                "only the operator allow-list (ACTIONS_PRIVATE_URL_ALLOWLIST) can admit it"
                if address in METADATA_ADDRESSES
                else "set allow_private_urls on the block or ask the operator to add it "
                "to ACTIONS_PRIVATE_URL_ALLOWLIST"
            )
            raise UnsafeTargetError(
                f"blocked: {host} resolves to {address}, which is {problem}; {hint}"
            )


class WebhookTransport:
    """Sends requests to checked addresses only. One per service; `aclose()` on shutdown."""

    def __init__(
        self,
        allowlist: Allowlist | None = None,
        timeout_seconds: float = 10.0,
        max_response_bytes: int = 1_000_000,
        max_connections: int = 256,
    ) -> None:
        self.allowlist = allowlist or Allowlist()
        self.timeout_seconds = timeout_seconds
        self.max_response_bytes = max_response_bytes
        self._policy = AddressPolicy(self.allowlist, timeout_seconds)
        self._max_connections = max_connections
        # By allow_private; made on first use, inside the running loop.
        self._sessions: dict[bool, aiohttp.ClientSession] = {}

    def _session(self, allow_private: bool) -> aiohttp.ClientSession:
        session = self._sessions.get(allow_private)
        if session is None:
            connector = aiohttp.TCPConnector(
                resolver=GuardedResolver(self._policy, allow_private),
                limit=self._max_connections,
                ttl_dns_cache=10,
            )
            # trust_env=False: a proxy from the environment would reach unchecked hosts.
            session = aiohttp.ClientSession(
                connector=connector,
                trust_env=False,
                # Every webhook call stands alone: no cookies carried from one to the next.
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(total=self.timeout_seconds),
                auto_decompress=True,
            )
            self._sessions[allow_private] = session
        return session

    async def aclose(self) -> None:
        for session in self._sessions.values():
            await session.close()
        self._sessions.clear()

    async def check(
        self, host: str, port: int, *, allow_private: bool, scheme: str = "tcp"
    ) -> Target:
        """Resolve `host` once and choose an address it is safe to connect to.

        Every resolved address must pass, so a name that also resolves to an internal
        address is refused. Raises UnsafeTargetError or TransportError (name not found).
        Connect to `Target.address`, not to the name, to keep the check meaningful.
        """
        infos = await _lookup(host, port, self.timeout_seconds)
        addresses = [address for address, _ in infos]
        self._policy.refuse_unsafe(host, addresses, allow_private)
        return Target(scheme, host, port, addresses[0])

    async def check_url(self, url: str, *, allow_private: bool) -> Target:
        """Check an http(s) URL (after template rendering) the same way `send` does."""
        parts = _http_parts(url)
        default_port = 443 if parts.scheme == "https" else 80
        assert parts.hostname is not None
        return await self.check(
            parts.hostname,
            parts.port or default_port,
            allow_private=allow_private,
            scheme=parts.scheme,
        )

    async def send(self, request: OutboundRequest) -> OutboundResponse:
        """Send `request` to a checked address; never follows redirects.

        Raises UnsafeTargetError (refused, permanent) or TransportError (did not complete).
        """
        parts = _http_parts(request.url)
        host = parts.hostname or ""
        literal = _ip_literal(host)
        if literal is not None:
            # aiohttp does not resolve IP literals, so they are checked here.
            self._policy.refuse_unsafe(host, [literal], request.allow_private)
        session = self._session(request.allow_private)
        try:
            async with session.request(
                request.method,
                request.url,
                headers=dict(request.headers),
                data=request.body,
                allow_redirects=False,
                ssl=request.verify,
            ) as response:
                body, truncated = await self._read_capped(response)
                address = ""
                if response.connection is not None and response.connection.transport is not None:
                    peer = response.connection.transport.get_extra_info("peername")
                    address = str(peer[0]) if peer else ""
                return OutboundResponse(
                    status_code=response.status,
                    headers={k: v for k, v in response.headers.items()},
                    body=body,
                    truncated=truncated,
                    address=address,
                )
        except UnsafeTargetError:
            raise
        except TimeoutError:
            raise TransportError(
                f"{host} did not answer within {self.timeout_seconds:g} s"
            ) from None
        except aiohttp.InvalidURL as exc:
            raise UnsafeTargetError(f"not a valid URL: {exc}") from None
        except aiohttp.ClientError as exc:
            raise TransportError(f"calling {host} failed: {type(exc).__name__}: {exc}") from None

    async def _read_capped(self, response: aiohttp.ClientResponse) -> tuple[bytes, bool]:
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(65_536):
            room = self.max_response_bytes - size
            if len(chunk) > room:
                chunks.append(chunk[:room])
                return b"".join(chunks), True
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks), False


def _http_parts(url: str) -> SplitResult:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise UnsafeTargetError(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeTargetError(f"only http and https URLs may be called, not {parts.scheme!r}")
    if not parts.hostname:
        raise UnsafeTargetError("the URL has no host")
    return parts


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


async def _lookup(
    host: str, port: int, timeout_seconds: float, family: int = socket.AF_UNSPEC
) -> list[tuple[IPAddress, socket.AddressFamily]]:
    """Every address `host` resolves to (once), with its family; IP literals as they are."""
    literal = _ip_literal(host)
    if literal is not None:
        return [(literal, socket.AF_INET6 if literal.version == 6 else socket.AF_INET)]
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout_seconds):
            infos = await loop.getaddrinfo(host, port, family=family, type=socket.SOCK_STREAM)
    except TimeoutError:
        raise TransportError(f"resolving {host} took longer than {timeout_seconds:g} s") from None
    except OSError as exc:
        raise TransportError(f"cannot resolve {host}: {exc}") from None
    found: list[tuple[IPAddress, socket.AddressFamily]] = []
    for info in infos:
        # Scope ids (`fe80::1%eth0`) are dropped: such addresses are refused anyway.
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if all(address != known for known, _ in found):
            found.append((address, info[0]))
    if not found:
        raise TransportError(f"{host} has no addresses")
    return found
