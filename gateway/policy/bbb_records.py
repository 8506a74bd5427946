"""What an LMS may do to recordings and webhooks through the BBB API (G12, G14, G16,
G20, G21): pure decisions. bbb_hooks/record_calls.py gathers the facts (the
registry's rows, the purpose BBB's own metadata carries) and asks these.

- `updateRecordings` may not change any `meta_privacy-*` key;
- `publishRecordings publish=true` is refused for a recording whose purpose does
  not include distribution, or that is held; a recording the registry has not
  seen yet is judged by the purpose BBB carries, and one whose purpose cannot be
  established at all is refused: undeclared is not distribution (G14);
- `deleteRecordings` is refused for a held recording (the hold wins, G12);
- `hooks/create` is refused unless `bbb.allow_webhooks` is on (G20, G21).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from gateway.policy.bbb import META_PREFIX_PRIVACY
from gateway.policy.model import Policy
from gateway.policy.retention import RegistryRow, distributes

RECORD_CALLS = frozenset({"publishRecordings", "updateRecordings", "deleteRecordings"})

Refusal = Literal["webhooksNotAllowed", "privacyMetadataReadOnly", "recordingOnHold",
                  "notForDistribution"]


@dataclass(frozen=True)
class RecordCall:
    """An API call as these rules read it."""

    call: str
    param_names: tuple[str, ...]
    publish: str | None  # the `publish` parameter, as sent

    @property
    def publishing(self) -> bool:
        return (self.call == "publishRecordings"
                and (self.publish or "").strip().lower() == "true")

    @property
    def needs_recordings(self) -> bool:
        """Whether the recordings' facts (registry, holds, purpose) decide this call."""
        return self.publishing or self.call == "deleteRecordings"


def call_refusal(policy: Policy, call: RecordCall) -> Refusal | None:
    """The refusal that needs no facts about recordings, if any."""
    if call.call == "hooks/create" and not policy.bbb.allow_webhooks:
        return "webhooksNotAllowed"
    if call.call == "updateRecordings" and any(
            name.lower().startswith(META_PREFIX_PRIVACY) for name in call.param_names):
        return "privacyMetadataReadOnly"
    return None


def registered_refusal(policy: Policy, call: RecordCall,
                       rows: Iterable[RegistryRow]) -> Refusal | None:
    """The registry's rows for the ids: a hold blocks both; publishing needs distribution."""
    for row in rows:
        if row.holds:
            return "recordingOnHold"
        if call.publishing and not distributes(policy, row.purpose):  # G14, as the sweeper
            return "notForDistribution"
    return None


def unregistered_refusal(policy: Policy, ids: Iterable[str],
                         declared: Mapping[str, str | None]) -> Refusal | None:
    """Publishing ids the registry has not seen: each is judged by the purpose BBB's
    metadata declares for it (`declared`, keyed by full recording id; bbb-web matches
    an id as a prefix). Fails closed: an id no answer names has no declared purpose."""
    for record_id in ids:
        purposes = [p for full, p in declared.items() if full.startswith(record_id)] or [None]
        if any(not distributes(policy, purpose) for purpose in purposes):
            return "notForDistribution"
    return None
