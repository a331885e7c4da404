"""The tier-1 write path (strongly consistent DDL): the fenced lease lock and the domain
writer that commits batches of requests under it."""
