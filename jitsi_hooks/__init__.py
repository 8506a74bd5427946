"""Everything Jitsi-specific: tokens, meeting page, events, Jibri, prosody module."""
