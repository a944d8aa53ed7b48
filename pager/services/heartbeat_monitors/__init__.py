"""Heartbeat monitors: jobs that must beat a URL on time, and the alerts their missed beats open.

A domain of its own beside `ingest/`: like a webhook it produces alerts through the alerting path,
but from the absence of events, with a durable timer of its own. See docs/heartbeats.md.
"""
