"""Orchestration: ``@asset`` pipelines, their deployment, plans and runs (ADR 015)."""
