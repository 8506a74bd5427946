"""What an LMS may do to recordings and webhooks through the proxy (G14, G16, G20, G21).

The retention sweeper and the recording guard keep the gateway's own facts about
a recording (its purpose, its retention, its holds) in `meta_privacy-*` keys and
in the registry. An LMS may still publish, update and delete recordings, but not
in ways that undo those facts:

- `updateRecordings` may not change any `meta_privacy-*` key (retention and
  distribution follow the declared purpose, G14, G16);
- `publishRecordings publish=true` is refused for a recording whose purpose
  does not include distribution, or that is held (an objection or a legal hold);
- `deleteRecordings` is refused for a held recording (the hold wins, G12);
- `hooks/create` is refused unless `bbb.allow_webhooks` is on: a webhook sends
  join events with names, addresses and chat to any URL (G20, G21).
"""

from __future__ import annotations

from bbb_hooks.inbound import ApiError, ApiRequest
from gateway.bbb_policy import META_PREFIX_PRIVACY
from gateway.registry import Registry
from gateway.settings import Policy
from gateway.store import Store

RECORD_CALLS = frozenset({"publishRecordings", "updateRecordings", "deleteRecordings"})


def _record_ids(inbound: ApiRequest) -> list[str]:
    return [r.strip() for r in (inbound.param("recordID") or "").split(",") if r.strip()]


async def check_call(inbound: ApiRequest, policy: Policy, store: Store) -> None:
    """Raise ApiError when this call would undo the policy; None when it may pass."""
    if inbound.call == "hooks/create" and not policy.bbb.allow_webhooks:
        raise ApiError("webhooksNotAllowed")
    if inbound.call not in RECORD_CALLS:
        return
    if inbound.call == "updateRecordings" and any(
            k.lower().startswith(META_PREFIX_PRIVACY) for k, _ in inbound.params):
        raise ApiError("privacyMetadataReadOnly")
    publishing = (inbound.call == "publishRecordings"
                  and (inbound.param("publish") or "").strip().lower() == "true")
    if not publishing and inbound.call != "deleteRecordings":
        return
    registry = Registry(store)
    for record_id in _record_ids(inbound):
        row = await registry.get(f"bbb:{record_id}")
        if row is None:
            continue  # not registered yet: the next sweep applies the rules
        if row.holds:
            raise ApiError("recordingOnHold")
        purpose = policy.purposes.get(row.purpose)  # type: ignore[call-overload]
        if publishing and (purpose is None or not purpose.distribute):
            raise ApiError("notForDistribution")
