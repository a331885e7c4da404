"""Keeping a store healthy: garbage collection (``arco gc``) and the end-to-end consistency
check (``arco verify``)."""
