"""The gateway's own exceptions. One middleware maps them to the caller's
format: BBB XML for BBB API callers, JSON for APIs, a page for people."""

from __future__ import annotations


class GatewayError(Exception):
    """A refusal the caller should see; `reason` is a bounded, loggable label."""

    status = 400
    message_key = "error.bad_request"

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


class BadRequest(GatewayError):
    status = 400
    message_key = "error.bad_request"


class Forbidden(GatewayError):
    status = 403
    message_key = "error.forbidden"


class NotFound(GatewayError):
    status = 404
    message_key = "error.not_found"


class CSRFError(GatewayError):
    status = 403
    message_key = "error.csrf"

