"""The store's own failure: callers never see the backend's exceptions.

`StoreUnavailable` is raised by every store operation the backend could not do
(Redis down, timed out, out of connections, or answering with an error). It is a
ConnectionError, so code that already treats a lost connection as "try again"
keeps doing so. The web shell answers it in the caller's format, always as
"try again shortly": a page (503) for people, BBB XML for the BBB API, JSON 503
for hooks (retryable).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from redis.exceptions import RedisError

T = TypeVar("T")


class StoreUnavailable(ConnectionError):
    """The store could not do an operation; the caller may try again later."""

    status = 503
    reason = "store_unavailable"
    message_key = "error.store_unavailable"


def _translated(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(method)
    async def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return await method(*args, **kwargs)
        except (RedisError, OSError) as exc:
            if isinstance(exc, StoreUnavailable):
                raise
            raise StoreUnavailable(type(exc).__name__) from exc
    return call


def translate_errors(cls: type[T]) -> type[T]:
    """Class decorator: each public coroutine method raises StoreUnavailable instead of
    the backend's errors (`ping` answers False itself; `close` stays as it is)."""
    for name, member in list(vars(cls).items()):
        if (not name.startswith("_") and name not in ("ping", "close")
                and inspect.iscoroutinefunction(member)):
            setattr(cls, name, _translated(member))
    return cls
