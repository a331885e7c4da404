"""Catalog search: the Unicode-aware tokenizer, posting rows and prefix search."""

from arco.search.postings import (
    EXACT_FACTOR,
    LIMIT_MAX,
    WEIGHT_COLUMN,
    WEIGHT_DESCRIPTION,
    WEIGHT_NAME,
    WEIGHTS,
    Hit,
    Posting,
    PrefixIndex,
    postings_for_namespace,
    postings_for_table,
    query_tokens,
    search,
)
from arco.search.tokenize import TOKEN_MAX, tokenize

__all__ = [
    "EXACT_FACTOR",
    "LIMIT_MAX",
    "TOKEN_MAX",
    "WEIGHTS",
    "WEIGHT_COLUMN",
    "WEIGHT_DESCRIPTION",
    "WEIGHT_NAME",
    "Hit",
    "Posting",
    "PrefixIndex",
    "postings_for_namespace",
    "postings_for_table",
    "query_tokens",
    "search",
    "tokenize",
]
