"""Redis connections from one URL: plain, TLS, ACL users, and Sentinel.

Accepted forms (the store's `store.redis_url` and the guard's `bbb.redis_url`):

- `redis://[user:password@]host:port/db` and `unix:///path?db=0`: one server; with
  `user:password` the connection logs in as that ACL user (Redis 6+).
- `rediss://...`: the same over TLS; `?ssl_ca_certs=/path/ca.pem` names a private CA,
  `ssl_certfile`/`ssl_keyfile` a client certificate.
- `redis+sentinel://[user:password@]s1:26379,s2:26379/service[/db]` (and
  `rediss+sentinel://` for TLS to the master): the master of `service` as the
  Sentinels name it, asked again after every lost connection, so a failover
  reaches every replica of the gateway without a restart. `user:password` log in
  to the master; `?sentinel_username=...&sentinel_password=...` to the Sentinels.

Secrets in these URLs come from the environment or a file, never the policy (G19).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

SENTINEL_SCHEMES = {"redis+sentinel": False, "rediss+sentinel": True}
DEFAULT_SENTINEL_PORT = 26379
# Query keys passed on to the master connections (TLS files and checks).
_TLS_KEYS = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_cert_reqs",
             "ssl_check_hostname")


class RedisURLError(ValueError):
    """A Redis URL that cannot be used; the message never repeats the URL (it holds secrets)."""


@dataclass(frozen=True)
class SentinelURL:
    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    tls: bool = False
    sentinel_username: str | None = None
    sentinel_password: str | None = None
    tls_options: dict[str, str] = field(default_factory=dict)


def is_sentinel(url: str) -> bool:
    return url.split("://", 1)[0].lower() in SENTINEL_SCHEMES


def parse_sentinel_url(url: str) -> SentinelURL:
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in SENTINEL_SCHEMES:
        raise RedisURLError("not a redis+sentinel:// URL")
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    creds, at, hosts = netloc.rpartition("@")
    username = password = None
    if at:
        user, colon, pw = creds.partition(":")
        username, password = (unquote(user) or None), (unquote(pw) if colon else None)
    sentinels = tuple(_host_port(part) for part in hosts.split(",") if part)
    parts = [p for p in path.split("/") if p]
    if not sentinels or not parts or len(parts) > 2:
        raise RedisURLError("a Sentinel URL needs host:port[,host:port]/service[/db]")
    db = _db(parts[1]) if len(parts) == 2 else 0
    params = dict(parse_qsl(query))
    return SentinelURL(
        sentinels=sentinels, service=unquote(parts[0]), db=db, username=username,
        password=password, tls=SENTINEL_SCHEMES[scheme.lower()],
        sentinel_username=params.get("sentinel_username"),
        sentinel_password=params.get("sentinel_password"),
        tls_options={k: v for k, v in params.items() if k in _TLS_KEYS})


def _host_port(part: str) -> tuple[str, int]:
    if part.startswith("["):  # [::1]:26379
        host, _, port = part[1:].partition("]")
        port = port.lstrip(":")
    else:
        host, _, port = part.rpartition(":") if ":" in part else (part, "", "")
    try:
        number = int(port) if port else DEFAULT_SENTINEL_PORT
    except ValueError:
        raise RedisURLError("a Sentinel address has a port that is not a number") from None
    if not host or not 0 < number < 65536:
        raise RedisURLError("a Sentinel address needs a host and a port 1..65535")
    return host, number


def _db(text: str) -> int:
    if not text.isdigit():
        raise RedisURLError("the database after the service name must be a number")
    return int(text)


def _tls_kwargs(parsed: SentinelURL) -> dict[str, Any]:
    if not parsed.tls:
        return {}
    out: dict[str, Any] = {"ssl": True, **parsed.tls_options}
    if "ssl_check_hostname" in out:
        out["ssl_check_hostname"] = out["ssl_check_hostname"].lower() in ("1", "true", "yes")
    return out


def sentinel_manager(parsed: SentinelURL, **kwargs: Any) -> Sentinel:
    sentinel_kwargs = {k: v for k, v in (("username", parsed.sentinel_username),
                                         ("password", parsed.sentinel_password)) if v}
    sentinel_kwargs["socket_timeout"] = kwargs.get("socket_timeout", 5)
    sentinel_kwargs["socket_connect_timeout"] = kwargs.get("socket_connect_timeout", 5)
    return Sentinel(list(parsed.sentinels), sentinel_kwargs=sentinel_kwargs)


class _SentinelRedis(Redis):
    """The master's client; closing it closes the connections to the Sentinels too."""

    sentinels: list[Redis]

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        for sentinel in getattr(self, "sentinels", []):
            await sentinel.aclose()


# A restart or failover of Redis takes a fraction of a second to a few seconds: a command
# that meets a refused or broken connection is tried again (50 ms doubling, jitter, at
# most 3 times; redis-py also retries the connect itself, so a Redis that stays away
# fails a request after about 1.5 s) before the request fails, so a Redis restart costs
# latency, not errors (bench/soak.py). Commands are sent again only after a connection
# error, so at most a command whose reply was lost runs twice: the store's commands that
# are not idempotent (take, set-if-absent, compare-and-set, acquire) record their outcome
# under a key of their own and answer it again (gateway/store/redis_store.py), so a
# single-use ticket is not lost and an update is not applied twice.
RETRIES = 3


def _retry() -> Retry:
    return Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), RETRIES,
                 supported_errors=(RedisConnectionError, RedisTimeoutError, OSError))


def redis_client(url: str, **kwargs: Any) -> Redis:
    """A redis.asyncio client for any accepted URL; `kwargs` tune the connection pool."""
    kwargs.setdefault("retry", _retry())
    if not is_sentinel(url):
        return Redis.from_url(url, **kwargs)
    parsed = parse_sentinel_url(url)
    manager = sentinel_manager(parsed, **kwargs)
    client: _SentinelRedis = manager.master_for(
        parsed.service, redis_class=_SentinelRedis, db=parsed.db, username=parsed.username,
        password=parsed.password, **_tls_kwargs(parsed), **kwargs)
    client.sentinels = manager.sentinels
    return client


async def master_address(url: str) -> tuple[str, int]:
    """Where the Sentinels say the master of a `redis+sentinel://` URL is now."""
    parsed = parse_sentinel_url(url)
    manager = sentinel_manager(parsed)
    try:
        host, port = await manager.discover_master(parsed.service)
    finally:
        for sentinel in manager.sentinels:
            await sentinel.aclose()
    return str(host), int(port)


async def connection_options(url: str) -> dict[str, Any]:
    """What a hand-made connection needs (the guard's bus link): host, port, username,
    password, TLS; for a Sentinel URL the master's current address."""
    from redis.connection import SSLConnection, parse_url

    if not is_sentinel(url):
        options: dict[str, Any] = parse_url(url)  # type: ignore[no-untyped-call]
        options["tls"] = options.get("connection_class") is SSLConnection
        return options
    parsed = parse_sentinel_url(url)
    host, port = await master_address(url)
    return {"host": host, "port": port, "db": parsed.db, "username": parsed.username,
            "password": parsed.password, "tls": parsed.tls, **parsed.tls_options}
