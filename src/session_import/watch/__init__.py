"""Watching unattended runs: status and health checks, heartbeat pings, metrics, the
JSON event stream, the plain-text summary and the nightly-run view."""
