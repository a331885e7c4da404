"""The on-storage metadata format shared by both tiers.

Keys (:mod:`.layout`), Parquet table contracts (:mod:`.parquet`), manifests (the commit
point, :mod:`.manifest`), hash-chained commit records (:mod:`.commit_log`), the publish
protocol that writes a record and swaps a manifest (:mod:`.publish`), snapshot files and
their loader (:mod:`.snapshot`), merging delta files and writing checkpoints
(:mod:`.merge`), and what a domain is made of (:mod:`.domain`, :mod:`.layered`). Knows no
particular domain; only the storage port is below it.
"""
