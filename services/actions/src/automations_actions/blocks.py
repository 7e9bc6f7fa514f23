"""Blocks (saved webhook and notification destinations): rules, secrets, masking, use cases.

Secret fields are write-only: every read masks them as `********`, and an update that
sends the mask back keeps the stored value. Storage encrypts them (block_store.py).
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from automations_common.errors import (
    AlreadyExists,
    InvalidArgument,
    NotFound,
    ViolationCollector,
)
from automations_common.ids import new_id, parse_uuid

MASK = "********"
MAX_NAME_CHARS = 255
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True)
class SecretFields:
    """Which fields of a kind are secret: whole strings, or every value of a string map."""

    strings: tuple[str, ...] = ()
    maps: tuple[str, ...] = ()


# Keyed by block kind (the name of the case in the proto's `config` oneof).
SECRETS: dict[str, SecretFields] = {
    "webhook": SecretFields(strings=("url",), maps=("headers",)),
    "slack_webhook": SecretFields(strings=("url",)),
    "microsoft_teams_webhook": SecretFields(strings=("url",)),
    "email": SecretFields(strings=("password",)),
    "custom_webhook": SecretFields(maps=("secrets",)),
    "apprise": SecretFields(strings=("url",)),
}
KINDS = tuple(SECRETS)

# Prefect's block type slugs, for the `block-type` related resource of action events.
BLOCK_TYPE_SLUGS = {
    "webhook": "webhook",
    "slack_webhook": "slack-webhook",
    "microsoft_teams_webhook": "ms-teams-webhook",
    "email": "email",
    "custom_webhook": "custom-webhook",
    "apprise": "apprise",
}


@dataclass(frozen=True)
class Block:
    """A block with its configuration in plain JSON-like form (proto field names)."""

    id: str
    name: str
    kind: str
    config: dict[str, Any]
    workspace: str = "default"
    created: datetime | None = None
    updated: datetime | None = None

    @property
    def allow_private_urls(self) -> bool:
        return bool(self.config.get("allow_private_urls", False))


def masked(block: Block) -> Block:
    """The block as every read returns it: secrets replaced by the mask."""
    spec = SECRETS[block.kind]
    config = copy.deepcopy(block.config)
    for name in spec.strings:
        if config.get(name):
            config[name] = MASK
    for name in spec.maps:
        values = config.get(name) or {}
        config[name] = {key: MASK for key in values}
    return replace(block, config=config)


def keep_masked_secrets(
    new: dict[str, Any], stored: Mapping[str, Any], kind: str
) -> dict[str, Any]:
    """`new` with every masked secret replaced by the stored value it stands for."""
    spec = SECRETS[kind]
    merged = copy.deepcopy(new)
    for name in spec.strings:
        if merged.get(name) == MASK:
            merged[name] = stored.get(name, "")
    for name in spec.maps:
        values = dict(merged.get(name) or {})
        old = stored.get(name) or {}
        for key, value in values.items():
            if value == MASK:
                values[key] = old.get(key, "")
        merged[name] = values
    return merged


def _check_http_url(url: str, path: str, problems: ViolationCollector) -> None:
    if not url:
        problems.add(path, "is required")
        return
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        problems.add(path, f"is not a valid URL ({exc})")
        return
    if parts.scheme not in ("http", "https"):
        problems.add(path, "must be an http:// or https:// URL")
    elif not parts.hostname:
        problems.add(path, "has no host")
    elif parts.username or parts.password:
        problems.add(path, "must not carry credentials; put them in a header instead")


def normalized_config(kind: str, config: Mapping[str, Any], path: str) -> dict[str, Any]:
    """The configuration with defaults filled in, or InvalidArgument naming every bad field."""
    problems = ViolationCollector()
    result = dict(config)
    if kind in ("webhook", "slack_webhook", "microsoft_teams_webhook", "custom_webhook"):
        _check_http_url(str(result.get("url") or ""), f"{path}.url", problems)
    if kind in ("webhook", "custom_webhook"):
        method = str(result.get("method") or "POST").upper()
        if method not in HTTP_METHODS:
            problems.add(f"{path}.method", f"must be one of {', '.join(HTTP_METHODS)}")
        result["method"] = method
        for key in result.get("headers") or {}:
            if not key or any(c in key for c in " \r\n:"):
                problems.add(f"{path}.headers", f"{key!r} is not a valid header name")
    if kind == "webhook" and result.get("verify") is None:
        # The proto's `optional bool verify`: left out means verify TLS.
        result["verify"] = True
    if kind == "apprise":
        url = str(result.get("url") or "")
        if "://" not in url:
            problems.add(
                f"{path}.url", "must be a notification URL such as slack://... or mailto://..."
            )
    if kind == "email":
        if not result.get("smtp_server"):
            problems.add(f"{path}.smtp_server", "is required")
        port = int(result.get("smtp_port") or 0)
        if port == 0:
            security = str(result.get("smtp_security") or "")
            port = 465 if security.endswith("SSL") else 587
        if not 0 < port < 65536:
            problems.add(f"{path}.smtp_port", "must be between 1 and 65535")
        result["smtp_port"] = port
        if not result.get("from_email"):
            problems.add(f"{path}.from_email", "is required")
        if not result.get("to_emails"):
            problems.add(f"{path}.to_emails", "needs at least one address")
    problems.raise_if_any("invalid block")
    return result


def check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidArgument.for_field("block.name", "is required")
    if len(name) > MAX_NAME_CHARS:
        raise InvalidArgument.for_field("block.name", f"is longer than {MAX_NAME_CHARS} characters")
    return name


@dataclass(frozen=True)
class BlockPage:
    blocks: list[Block]
    next_position: dict[str, Any] | None


class BlockStore(Protocol):
    """Storage of blocks, secrets in the clear on this side (the store encrypts them)."""

    async def insert(self, block: Block) -> Block: ...

    async def get(self, workspace: str, block_id: str) -> Block | None: ...

    async def find_by_name(self, workspace: str, name: str) -> list[Block]: ...

    async def name_taken(self, workspace: str, kind: str, name: str, except_id: str) -> bool: ...

    async def list(
        self, workspace: str, kind: str, after: Mapping[str, Any] | None, limit: int
    ) -> BlockPage: ...

    async def update(self, block: Block) -> Block: ...

    async def delete(self, workspace: str, block_id: str) -> bool: ...


# Sends a test message (subject, body) through a block; returns what happened or raises.
BlockTester = Callable[[Block, str, str], Awaitable[str]]


@dataclass
class Blocks:
    """The block use cases behind BlockService. Reads return masked blocks."""

    store: BlockStore
    workspace: str = "default"
    testers: dict[str, BlockTester] = field(default_factory=dict)
    # Executors read the same few blocks over and over: keep them this long (0: never).
    # Changes made here are seen at once; those made through another replica after this.
    cache_seconds: float = 5.0
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self._cache: dict[str, tuple[float, Block]] = {}
        self._loading: dict[str, asyncio.Future[Block | None]] = {}

    async def load(self, block_id: str) -> Block:
        """The block with its secrets, for executors. NotFound if absent."""
        key = parse_uuid(block_id, "block_document_id")
        cached = self._cache.get(key)
        if cached is not None and cached[0] > self.clock():
            return cached[1]
        block = await self._load_once(key)
        if block is None:
            raise NotFound("block", block_id)
        return block

    async def _load_once(self, key: str) -> Block | None:
        """One read per block however many actions ask for it at the same moment."""
        pending = self._loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Block | None] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        try:
            block = await self.store.get(self.workspace, key)
        except BaseException as exc:
            future.set_exception(exc)
            # Mark the exception retrieved: waiters (if any) re-raise it themselves.
            future.exception()
            raise
        finally:
            del self._loading[key]
        if block is not None and self.cache_seconds > 0:
            self._cache[key] = (self.clock() + self.cache_seconds, block)
        future.set_result(block)
        return block

    async def create(self, name: str, kind: str, config: Mapping[str, Any]) -> Block:
        name = check_name(name)
        if kind not in SECRETS:
            raise InvalidArgument.for_field("block.config", f"must be one of {', '.join(KINDS)}")
        config = normalized_config(kind, config, f"block.{kind}")
        if await self.store.name_taken(self.workspace, kind, name, ""):
            raise AlreadyExists(f"a {kind} block named {name!r} already exists")
        block = Block(id=new_id(), name=name, kind=kind, config=config, workspace=self.workspace)
        return masked(await self.store.insert(block))

    async def get(self, block_id: str = "", name: str = "") -> Block:
        if bool(block_id) == bool(name):
            raise InvalidArgument.for_field("id", "give exactly one of id and name")
        if block_id:
            return masked(await self.load(block_id))
        found = await self.store.find_by_name(self.workspace, name)
        if not found:
            raise NotFound("block", name)
        if len(found) > 1:
            kinds = ", ".join(sorted(b.kind for b in found))
            raise InvalidArgument.for_field(
                "name", f"{name!r} names blocks of several kinds ({kinds}); get one by id"
            )
        return masked(found[0])

    async def list(self, kind: str, after: Mapping[str, Any] | None, limit: int) -> BlockPage:
        if kind and kind not in SECRETS:
            raise InvalidArgument.for_field("kind", f"must be one of {', '.join(KINDS)}")
        page = await self.store.list(self.workspace, kind, after, limit)
        return BlockPage([masked(b) for b in page.blocks], page.next_position)

    async def update(
        self,
        block_id: str,
        name: str,
        kind: str,
        config: Mapping[str, Any],
        paths: Sequence[str] = (),
    ) -> Block:
        """Replace name and configuration, or only the fields in `paths` (an update mask)."""
        stored = await self.store.get(self.workspace, parse_uuid(block_id, "block.id"))
        if stored is None:
            raise NotFound("block", block_id)
        new_name, new_config = stored.name, dict(stored.config)
        if not paths:
            if kind and kind != stored.kind:
                raise InvalidArgument.for_field(
                    "block.config", f"a {stored.kind} block cannot become a {kind} block"
                )
            new_name = name or stored.name
            new_config = dict(config) if kind else new_config
        for path in paths:
            head, _, rest = path.partition(".")
            if path == "name":
                new_name = name
            elif head == stored.kind and kind == stored.kind:
                if rest:
                    new_config[rest] = config.get(rest)
                else:
                    new_config = dict(config)
            else:
                raise InvalidArgument.for_field(
                    "update_mask", f"{path!r} is not a field of this {stored.kind} block"
                )
        new_name = check_name(new_name)
        new_config = keep_masked_secrets(new_config, stored.config, stored.kind)
        new_config = normalized_config(stored.kind, new_config, f"block.{stored.kind}")
        if new_name != stored.name and await self.store.name_taken(
            self.workspace, stored.kind, new_name, stored.id
        ):
            raise AlreadyExists(f"a {stored.kind} block named {new_name!r} already exists")
        updated = replace(stored, name=new_name, config=new_config)
        self._cache.pop(stored.id, None)
        return masked(await self.store.update(updated))

    async def delete(self, block_id: str) -> None:
        key = parse_uuid(block_id, "id")
        self._cache.pop(key, None)
        if not await self.store.delete(self.workspace, key):
            raise NotFound("block", block_id)

    async def test(self, block_id: str, subject: str, body: str) -> tuple[bool, str]:
        """Send a test message through the block; (ok, what happened)."""
        block = await self.load(block_id)
        tester = self.testers.get(block.kind)
        if tester is None:
            return False, f"this service cannot send through {block.kind} blocks yet"
        subject = subject or "Test message from Automations"
        body = body or f"This is a test message sent through the block {block.name!r}."
        try:
            return True, await tester(block, subject, body)
        except Exception as exc:  # the outcome is the answer, whatever went wrong
            reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
            return False, str(reason)
