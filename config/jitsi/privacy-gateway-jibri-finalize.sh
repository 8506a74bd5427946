#!/bin/sh
# Jibri's finalize-script: Jibri passes one argument, the session directory.
# Writes the retention sidecar, removes identities from metadata.json, registers the recording.
set -eu
exec privacy-gateway jibri-finalize --config "${PRIVACY_GATEWAY_CONFIG:-/etc/privacy-gateway/policy.toml}" "$1"
