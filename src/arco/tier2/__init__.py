"""The tier-2 path (eventually consistent events): the event envelope, the create-only
ledger, the ingestor that appends and folds, the lock-free compactor, and the ``ingested``
table that records what it folded."""
