"""The policy: the frozen model of the one policy file and the pure decisions over it.

No I/O here (tests/test_architecture.py enforces it): no aiohttp, no redis, no store,
no files, no adapter. Identity (identity.py), BigBlueButton (bbb.py,
bbb_client_settings.py), Jitsi (jitsi.py), the recording guard (guard*.py), retention
(retention.py), playback (playback.py), and the texts derived from the policy
(notice.py, report*.py).
"""
