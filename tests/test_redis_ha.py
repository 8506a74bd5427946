"""Redis as the distributed engine: Sentinel failover, TLS and ACL users, against real
redis-server and redis-sentinel processes (gateway.store.redis_urls, deploy/README.md)."""

from __future__ import annotations

import asyncio
import datetime
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_sync
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from redis.exceptions import RedisError

from bbb_hooks.bus_link import BusLost, BusPublisher
from gateway.store.redis_store import RedisStore
from gateway.store.redis_urls import (
    RedisURLError,
    connection_options,
    master_address,
    parse_sentinel_url,
)
from tests.redis_procs import RedisProc, start_redis, start_sentinel

SERVICE = "pgw-master"
PASSWORD = "store-user-password-1234567890"
REPL_PASSWORD = "replication-password-1234567890"
SENTINEL_PASSWORD = "sentinel-password-1234567890"
# ACL users (G19: the gateway gets only its own key prefix): `pgw` for the store,
# `repl` for replication and Sentinel; the default user is switched off.
ACL = ["--user", "default", "off",
       "--user", "pgw", "on", f">{PASSWORD}", "~pgw:*", "&*", "+@all", "-@admin",
       "--user", "repl", "on", f">{REPL_PASSWORD}", "~*", "&*", "+@all"]
ADMIN = {"username": "repl", "password": REPL_PASSWORD}


def test_sentinel_url_parsing() -> None:
    parsed = parse_sentinel_url(
        "rediss+sentinel://pgw:p%40ss@s1:26379,[::1]:26380,s3/mymaster/2"
        "?sentinel_password=sp&ssl_ca_certs=/etc/ca.pem")
    assert parsed.sentinels == (("s1", 26379), ("::1", 26380), ("s3", 26379))
    assert (parsed.service, parsed.db, parsed.username, parsed.password) == (
        "mymaster", 2, "pgw", "p@ss")
    assert parsed.tls and parsed.sentinel_password == "sp"
    assert parsed.tls_options == {"ssl_ca_certs": "/etc/ca.pem"}
    for bad in ("redis+sentinel://secretpw@s1:26379", "redis+sentinel://s1:x/m",
                "redis+sentinel:///m", "redis+sentinel://s1/m/db0"):
        with pytest.raises(RedisURLError) as info:
            parse_sentinel_url(bad)
        assert "secretpw" not in str(info.value)  # the URL's secrets are never repeated


@pytest.fixture
def sentinel_cluster(tmp_path: Path) -> Iterator[tuple[RedisProc, RedisProc, RedisProc]]:
    master = start_redis(tmp_path / "m", [*ACL, "--appendonly", "yes"], ADMIN)
    replica = start_redis(tmp_path / "r", [
        *ACL, "--appendonly", "yes", "--replicaof", "127.0.0.1", str(master.port),
        "--masteruser", "repl", "--masterauth", REPL_PASSWORD], ADMIN)
    sentinel = start_sentinel(tmp_path / "s", master.port, SERVICE, [
        f"sentinel auth-user {SERVICE} repl", f"sentinel auth-pass {SERVICE} {REPL_PASSWORD}",
        f"requirepass {SENTINEL_PASSWORD}"])
    try:
        yield master, replica, sentinel
    finally:
        for proc in (sentinel, replica, master):
            proc.kill()


def _wait(predicate: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():  # type: ignore[operator]
                return
        except redis_sync.RedisError:
            pass
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


async def test_sentinel_failover_reaches_store_and_guard_bus(
        sentinel_cluster: tuple[RedisProc, RedisProc, RedisProc]) -> None:
    master, replica, sentinel = sentinel_cluster
    url = (f"redis+sentinel://pgw:{PASSWORD}@127.0.0.1:{sentinel.port}/{SERVICE}/0"
           f"?sentinel_password={SENTINEL_PASSWORD}")
    # Sentinel has seen the replica before the master goes away.
    _wait(lambda: replica.client().info("replication")["master_link_status"] == "up", 15)
    assert await master_address(url) == ("127.0.0.1", master.port)
    store = RedisStore.from_url(url, "pgw")
    try:
        await store.set("session:abc", b"kept", None)
        assert await store.get("session:abc") == b"kept"
        _wait(lambda: replica.client().get("pgw:session:abc") == b"kept", 10)
        # ACL: the store's user reaches its own prefix only.
        with pytest.raises(RedisError, match="no permissions"):
            await store._r.get("other:key")

        master.kill()  # SIGKILL: no goodbye to the Sentinel
        killed = time.monotonic()
        value = None
        while value is None and time.monotonic() - killed < 20:
            try:
                await store.set("after", b"1", None)
                value = await store.get("session:abc")
            except (RedisError, OSError):
                await asyncio.sleep(0.2)
        took = time.monotonic() - killed
        assert value == b"kept", "the replicated session survived the failover"
        assert took < 10, f"failover took {took:.1f} s"
        assert await master_address(url) == ("127.0.0.1", replica.port)
        # The guard's own connection finds the new master through the same URL.
        options = await connection_options(url)
        assert (options["port"], options["username"]) == (replica.port, "pgw")
        bus = BusPublisher(url, "privacy-gateway-guard-pub")
        try:
            assert await bus.publish("to-akka-apps-redis-channel", ["{}"]) == [0]
        finally:
            await bus.close()
    finally:
        await store.close()


async def test_sentinel_with_wrong_sentinel_password_is_a_clear_bus_error(
        sentinel_cluster: tuple[RedisProc, RedisProc, RedisProc]) -> None:
    _, _, sentinel = sentinel_cluster
    url = (f"redis+sentinel://pgw:{PASSWORD}@127.0.0.1:{sentinel.port}/{SERVICE}"
           "?sentinel_password=wrong")
    bus = BusPublisher(url, "privacy-gateway-guard-pub", connect_timeout=3)
    with pytest.raises(BusLost, match="connect"):
        await bus.publish("to-akka-apps-redis-channel", ["{}"])


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A private CA and a server certificate for 127.0.0.1 / localhost."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(1)
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress

    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


async def test_tls_and_acl_for_store_and_guard_bus(tmp_path: Path) -> None:
    ca, cert, key = _certificates(tmp_path)
    from tests.support import free_port

    tls_port = free_port()
    server = start_redis(tmp_path / "tls", [
        *ACL, "--tls-port", str(tls_port), "--tls-cert-file", str(cert),
        "--tls-key-file", str(key), "--tls-ca-cert-file", str(ca), "--tls-auth-clients", "no"],
        ADMIN)
    try:
        url = f"rediss://pgw:{PASSWORD}@127.0.0.1:{tls_port}/0?ssl_ca_certs={ca}"
        store = RedisStore.from_url(url, "pgw")
        try:
            await store.set("k", b"over tls", 60)
            assert await store.get("k") == b"over tls"
        finally:
            await store.close()
        bus = BusPublisher(url, "privacy-gateway-guard-pub")
        try:
            assert await bus.publish("to-akka-apps-redis-channel", ["{}"]) == [0]
        finally:
            await bus.close()
        # Without the private CA the certificate is not trusted: no silent plain fallback.
        unverified = RedisStore.from_url(f"rediss://pgw:{PASSWORD}@127.0.0.1:{tls_port}/0")
        try:
            assert not await unverified.ping()
        finally:
            await unverified.close()
        wrong_user = BusPublisher(f"rediss://pgw:wrong@127.0.0.1:{tls_port}/0?ssl_ca_certs={ca}",
                                  "privacy-gateway-guard-pub")
        with pytest.raises(BusLost, match="WRONGPASS"):
            await wrong_user.publish("to-akka-apps-redis-channel", ["{}"])
    finally:
        server.kill()
