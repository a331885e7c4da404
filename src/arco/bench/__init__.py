"""Benchmarks (``arco bench ...``): reproducible figures written as JSON."""

from arco.bench.catalog import run_catalog_bench

__all__ = ["run_catalog_bench"]
