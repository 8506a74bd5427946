"""Aggregate Prometheus metrics (G20): bounded labels only, never a person,
room or meeting id. One registry per application so tests stay independent."""

from __future__ import annotations

import itertools
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client import disable_created_metrics as _disable_created

from gateway.policy.bbb import JOIN_DROPPED
from gateway.policy.identity import REFUSAL_REASONS
from gateway.policy.model import PURPOSES
from gateway.web.workers import shared_gauge_class

Gauge = shared_gauge_class()  # merged as the maximum over live workers (serve --workers)

_disable_created()  # type: ignore[no-untyped-call]

LOGIN_RESULTS = ("ok", "refused", "invalid_token", "bad_state", "idp_error", "jwks_unavailable",
                 "cancelled")
PLATFORMS = ("bbb", "jitsi")
TOKEN_REASONS = (
    "malformed", "oversized", "bad_header", "bad_algorithm", "unknown_key", "bad_signature",
    "expired", "not_yet_valid", "issued_in_future", "too_old", "bad_issuer", "bad_audience",
    "bad_azp", "bad_nonce", "missing_claim", "jwks_unavailable", "replayed",
)
CREATE_OVERRIDES = (
    "record", "autoStartRecording", "allowStartStopRecording", "recordFullDurationMedia",
    "meetingKeepEvents", "notifyRecordingIsOn", "remindRecordingIsOn", "disabledFeatures",
    "guestPolicy", "meta", "webcamsOnlyForModerator", "lockSettingsDisableCam",
    "allowModsToEjectCameras", "clientSettingsOverride", "logo", "allowRequestsWithoutSession",
)
DELETION_RESULTS = ("deleted", "failed", "not_found")
RECORDING_STATES = ("retained", "held", "due", "deleted")
GUARD_TASKS = ("bus", "chat")

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        p = "privacy_gateway_"
        self.login_attempts = Counter(
            p + "login_attempts", "Login attempts by result and refusal reason.",
            ["result", "reason"], registry=r)
        self.id_token_rejections = Counter(
            p + "id_token_rejections", "ID tokens refused, by reason.", ["reason"], registry=r)
        self.jwks_fetches = Counter(
            p + "jwks_fetches", "JWKS fetches by result.", ["result"], registry=r)
        self.requests = Histogram(
            p + "request_duration_seconds", "HTTP request latency by route template.",
            ["route", "method", "code"], buckets=_LATENCY_BUCKETS, registry=r)
        self.bbb_calls = Counter(
            p + "bbb_api_calls", "BBB API calls through the proxy, by call and result.",
            ["call", "result"], registry=r)
        self.bbb_create_overrides = Counter(
            p + "bbb_create_overrides", "LMS create parameters overridden by the policy.",
            ["parameter"], registry=r)
        self.bbb_join_dropped = Counter(
            p + "bbb_join_dropped", "LMS join parameters not passed on to BBB, by name.",
            ["parameter"], registry=r)
        self.joins = Counter(
            p + "joins", "Meeting joins by platform and result.", ["platform", "result"],
            registry=r)
        self.jitsi_tokens = Counter(
            p + "jitsi_tokens_issued", "Jitsi JWTs issued, by role.", ["role"], registry=r)
        self.guard_reaction = Histogram(
            p + "guard_reaction_seconds",
            "Event sent (its envelope timestamp, else read) to last guard command published.",
            ["platform"], buckets=_LATENCY_BUCKETS, registry=r)
        self.guard_violations = Counter(
            p + "guard_violations_remuted", "Pupil cameras/microphones switched off again.",
            ["platform", "kind"], registry=r)
        self.recordings_stopped = Counter(
            p + "guard_recordings_stopped", "Recordings stopped by the guard.",
            ["platform", "reason"], registry=r)
        # Only where a guard runs (BBB with its Redis bus configured): 1 on the leader
        # while connected, 0 on standbys and while reconnecting.
        self.guard_connected = Gauge(
            p + "guard_connected", "1 while the guard is connected to the platform bus.",
            ["platform"], registry=r)
        # Guard honesty (G8, G10): announcements by phase and result, situations where the
        # guard could not act, bus messages refused, and its background tasks.
        self.guard_announcements = Counter(
            p + "guard_announcements", "Guard announcements by phase and result.",
            ["platform", "phase", "result"], registry=r)
        self.guard_unable = Counter(
            p + "guard_unable_to_act", "Times the guard could not carry out its actions.",
            ["platform", "reason"], registry=r)
        self.guard_bus_rejected = Counter(
            p + "guard_bus_messages_rejected", "Bus messages the guard refused, by reason.",
            ["reason"], registry=r)
        self.guard_task_down = Gauge(
            p + "guard_task_down", "1 while a guard background task is down (restarting).",
            ["task"], registry=r)
        self.guard_task_restarts = Counter(
            p + "guard_task_restarts", "Guard background tasks restarted after a failure.",
            ["task"], registry=r)
        self.recordings = Gauge(
            p + "recordings", "Recordings in the registry by platform, purpose and state.",
            ["platform", "purpose", "state"], registry=r)
        self.recordings_overdue = Gauge(
            p + "recordings_overdue", "Recordings past their retain-until (should be 0).",
            registry=r)
        self.deletions = Counter(
            p + "recording_deletions", "Recording deletions by platform and result.",
            ["platform", "result"], registry=r)
        self.next_due = Gauge(
            p + "retention_next_due_timestamp_seconds", "When the next recording falls due.",
            registry=r)
        self.sweep_duration = Histogram(
            p + "retention_sweep_duration_seconds", "Duration of a retention sweep.",
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300), registry=r)
        self.last_sweep = Gauge(
            p + "retention_last_sweep_timestamp_seconds", "When the last sweep finished.",
            registry=r)
        self.objections = Counter(
            p + "objections", "Objections to recordings by outcome.", ["outcome"], registry=r)
        self.transcription_blocked = Counter(
            p + "transcription_blocked", "Transcription requests refused (G15).",
            ["platform"], registry=r)
        # Retention (G16): deletions that keep failing, and those past the policy's grace.
        self.deletion_failing = Gauge(
            p + "retention_deletions_failing", "Due recordings whose deletion is failing.",
            registry=r)
        self.deletion_alerting = Gauge(
            p + "retention_deletions_alerting",
            "Recordings whose deletion has failed for longer than the policy's grace.",
            registry=r)
        self.objections_open = Gauge(
            p + "objections_open", "Objections waiting for the privacy officer (G12).",
            registry=r)
        # Protected playback (G14, G20): per platform and purpose, never per person.
        self.playback = Counter(
            p + "playback_decisions", "Requests to watch a recording, by purpose and result.",
            ["platform", "purpose", "result"], registry=r)
        self._request_children: dict[tuple[str, str, int], Any] = {}
        self._initialise()

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Request latency by route template; label children are cached (hot path)."""
        key = (route, method, status)
        child = self._request_children.get(key)
        if child is None:
            child = self.requests.labels(route=route, method=method, code=str(status))
            self._request_children[key] = child
        child.observe(seconds)

    def _initialise(self) -> None:
        """Known label combinations start at 0 (no missing series)."""
        for result in LOGIN_RESULTS:
            if result != "refused":
                self.login_attempts.labels(result=result, reason="none")
        for refusal in REFUSAL_REASONS:
            self.login_attempts.labels(result="refused", reason=refusal)
        for reason in TOKEN_REASONS:
            self.id_token_rejections.labels(reason=reason)
        for parameter in CREATE_OVERRIDES:
            self.bbb_create_overrides.labels(parameter=parameter)
        for platform in PLATFORMS:
            for result in ("ok", "refused"):
                self.joins.labels(platform=platform, result=result)
            for result in DELETION_RESULTS:
                self.deletions.labels(platform=platform, result=result)
            for purpose in (*PURPOSES, "undeclared"):
                for state in RECORDING_STATES:
                    self.recordings.labels(platform=platform, purpose=purpose, state=state)
        for platform, purpose, result in itertools.product(
                PLATFORMS, (*PURPOSES, "undeclared"), ("ok", "refused")):
            self.playback.labels(platform=platform, purpose=purpose, result=result)
        for outcome in ("filed", "upheld", "rejected"):
            self.objections.labels(outcome=outcome)
        self._initialise_events()

    def _initialise_events(self) -> None:
        """Event series with bounded labels start at 0 too, so panels and alerts never
        see "No data" before the first event. guard_connected is left out on purpose:
        it exists only where a guard runs (0 there means disconnected)."""
        from typing import get_args

        from gateway.policy.guard_model import StopReason

        for parameter in JOIN_DROPPED:
            self.bbb_join_dropped.labels(parameter=parameter)
        for task in GUARD_TASKS:
            self.guard_task_down.labels(task=task)
            self.guard_task_restarts.labels(task=task)
        for result in ("ok", "error"):
            self.jwks_fetches.labels(result=result)
        for role in ("teacher", "pupil", "staff"):
            self.jitsi_tokens.labels(role=role)
        for platform in PLATFORMS:
            self.transcription_blocked.labels(platform=platform)
            self.guard_reaction.labels(platform=platform)
            for kind in ("camera", "microphone"):
                self.guard_violations.labels(platform=platform, kind=kind)
            for reason in (*get_args(StopReason), "purpose_next_recording"):
                self.recordings_stopped.labels(platform=platform, reason=reason)
