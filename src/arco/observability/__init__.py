"""Metrics with stable names, and the request context that logs and commit records name."""
