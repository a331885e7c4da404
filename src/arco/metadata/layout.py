"""Every storage key Arco uses, in one place.

Keys here are *relative to a scope*: a :class:`~arco.storage.ScopedStore` adds the
``tenant={t}/workspace={w}/`` prefix, so no code outside the storage port builds a raw key.

::

    manifests/{domain}.manifest.json        current pointer per domain (CAS only)
    locks/{domain}.lock.json                fenced lease per tier-1 domain
    ledger/{domain}/{ulid}.json             one event per object, create-only (tier 1)
    ledger/{domain}/{ulid}-{entropy}.json   same, tier 2: entropy = 8 hex chars per writer
    snapshots/{domain}/v{N}-{commit_id}/    immutable Parquet written by one commit attempt
    snapshots/{domain}/ckpt-{N}-{ulid}/     a checkpoint of version N, adopted by a later commit
    snapshots/{domain}/merged-{A}-{B}-{ulid}/  deltas of versions A..B merged, adopted likewise
    state/{domain}/...                      tier 2: the same three kinds of directory
    commits/{domain}/{commit_id}.json       hash-chained audit trail
    quarantine/{domain}/{name}.json         tier-2 ledger objects that could not be applied
    requests/{domain}/{sha256}.json         tier-2 request records kept for Idempotency-Key
    iceberg/pointers/{uuid}.json            an Iceberg table's (or view's) pointer (CAS)
    iceberg/transactions/{txn}.json         a multi-table Iceberg commit's decision (create-only)
    warehouse/{ns}/{table}-{uuid8}/         default location of an Iceberg table (ADR 014)
    deployments/{fingerprint}.json          a deployed definitions manifest (create-only, ADR 015)
    deployments/current.json                the deployed fingerprint and its version (CAS)
    data/{ns}/{name}/{dim=value/...}{id}.parquet  an asset's output, one file per successful
                                            attempt (create-only; ``id`` is the
                                            materialization id; ADR 015)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Literal

from arco.core.names import name_key
from arco.core.partitions import PartitionKey, PartitionValue

#: a domain's consistency tier: 1 (locked DDL, ``snapshots/``) or 2 (ledger + compactor,
#: ``state/``); each domain's spec declares it, :mod:`arco.domains` lists the domains
Tier = Literal[1, 2]


def manifest_key(domain: str) -> str:
    """The mutable manifest object of a domain."""
    return f"manifests/{domain}.manifest.json"


def lock_key(domain: str) -> str:
    """The lease-lock object of a tier-1 domain (never deleted)."""
    return f"locks/{domain}.lock.json"


def ledger_prefix(domain: str) -> str:
    return f"ledger/{domain}/"


def ledger_key(domain: str, event_id: str) -> str:
    return f"{ledger_prefix(domain)}{event_id}.json"


_LEDGER_NAME_RE = re.compile(r"([0-7][0-9A-HJKMNP-TV-Z]{25})(?:-([0-9a-f]{8}))?")


def ledger_name(event_id: str, entropy: str) -> str:
    """The name of a tier-2 ledger object: event id plus writer entropy, so writers never collide."""
    return f"{event_id}-{entropy}"


def parse_ledger_name(name: str) -> tuple[str, str | None] | None:
    """``(event_id, entropy)`` of a ledger object name (``entropy`` is None for a tier-1
    name, which is the commit id alone); None if ``name`` is not a ledger object name."""
    m = _LEDGER_NAME_RE.fullmatch(name)
    return None if m is None else (m.group(1), m.group(2))


def parse_ledger_key(domain: str, key: str) -> tuple[str, str | None] | None:
    """``(event_id, entropy)`` of a key made by :func:`ledger_key`; None for any other key."""
    prefix = ledger_prefix(domain)
    if not key.startswith(prefix) or not key.endswith(".json"):
        return None
    return parse_ledger_name(key[len(prefix) : -len(".json")])


def snapshots_prefix(domain: str, *, tier: Tier) -> str:
    """Where a domain's published Parquet lives: ``snapshots/`` (tier 1) or ``state/`` (tier 2)."""
    return f"state/{domain}/" if tier == 2 else f"snapshots/{domain}/"


def commit_dir(domain: str, version: int, commit_id: str, *, tier: Tier) -> str:
    """Directory unique to one commit attempt: a crashed attempt can't be mistaken for a later one."""
    return f"{snapshots_prefix(domain, tier=tier)}v{version:012d}-{commit_id}/"


def checkpoint_dir(domain: str, version: int, attempt_id: str, *, tier: Tier) -> str:
    """Directory of a checkpoint of ``version``, written before the commit that adopts it."""
    return f"{snapshots_prefix(domain, tier=tier)}ckpt-{version:012d}-{attempt_id}/"


def merged_dir(domain: str, first: int, last: int, attempt_id: str, *, tier: Tier) -> str:
    """Directory of a delta merged from versions ``first..last``, adopted by a later commit."""
    return f"{snapshots_prefix(domain, tier=tier)}merged-{first:012d}-{last:012d}-{attempt_id}/"


def data_file(directory: str, kind: str, table: str) -> str:
    """A Parquet file in a snapshot directory, e.g. ``.../delta-tables.parquet``."""
    return f"{directory}{kind}-{table}.parquet"


def commits_prefix(domain: str) -> str:
    return f"commits/{domain}/"


def commit_key(domain: str, commit_id: str) -> str:
    return f"{commits_prefix(domain)}{commit_id}.json"


def quarantine_prefix(domain: str) -> str:
    return f"quarantine/{domain}/"


def quarantine_key(domain: str, name: str) -> str:
    """Where the tier-2 compactor sets aside the ledger object ``name`` it could not apply."""
    return f"{quarantine_prefix(domain)}{name}.json"


def requests_prefix(domain: str) -> str:
    return f"requests/{domain}/"


def request_record_key(domain: str, idempotency_key: str) -> str:
    """Create-only record of a request applied under an idempotency key (tier 2, e.g. the
    API's ``POST /events``): ``requests/{domain}/{sha256 of the key}.json``."""
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()
    return f"{requests_prefix(domain)}{digest}.json"


#: deployed definitions manifests and the ``current.json`` pointer (ADR 015); no domain's
#: prefix, so GC and verify never list it
DEPLOYMENTS = "deployments/"
ICEBERG_POINTERS = "iceberg/pointers/"
ICEBERG_TRANSACTIONS = "iceberg/transactions/"
#: default Iceberg table and view locations live under this prefix (see ADR 014)
ICEBERG_WAREHOUSE = "warehouse/"


def iceberg_pointer_key(table_uuid: str) -> str:
    """The pointer of one Iceberg table or view (compare-and-swap only)."""
    return f"{ICEBERG_POINTERS}{table_uuid}.json"


def iceberg_transaction_key(txn_id: str) -> str:
    """The create-only decision object of one multi-table Iceberg commit."""
    return f"{ICEBERG_TRANSACTIONS}{txn_id}.json"


#: asset outputs written by orchestration (ADR 015); no domain's prefix, so GC and verify
#: never list it
DATA = "data/"
#: the directory value of a null partition value (Hive's convention)
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"


def key_segment(text: str) -> str:
    """``text`` as one safe key segment: letters, digits, ``-``, ``_`` and ``.`` (not
    leading) stay, every other character becomes ``~`` and two hex digits per UTF-8 byte;
    ``""`` is ``~``. Different texts give different segments."""
    if not text:
        return "~"
    out = []
    for i, ch in enumerate(text):
        if (ch.isalnum() or ch in "-_.") and not (i == 0 and ch == "."):
            out.append(ch)
        else:
            out.append("".join(f"~{b:02x}" for b in ch.encode("utf-8")))
    return "".join(out)


def asset_data_dir(namespace: str, name: str) -> str:
    """The directory of an asset's output files: ``data/{namespace}/{name}/``, each name
    case-folded (catalog names compare case-insensitively) and made a safe segment."""
    return f"{DATA}{key_segment(name_key(namespace))}/{key_segment(name_key(name))}/"


def _partition_value(value: PartitionValue) -> str:
    if value is None:
        return NULL_PARTITION
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return key_segment(value)
    if isinstance(value, dt.datetime):
        fraction = f".{value.microsecond:06d}" if value.microsecond else ""
        return (
            f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
            f"T{value.hour:02d}{value.minute:02d}{value.second:02d}{fraction}Z"
        )
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"


def partition_path(partition_key: str) -> str:
    """Hive-style directories of a canonical partition key, ``dim=value/`` per dimension in
    key order (``""`` for the unpartitioned key): dates ``2026-12-07``, times
    ``2026-12-07T130000Z`` (UTC; ``.ffffff`` when not whole seconds), strings as
    :func:`key_segment`, null as :data:`NULL_PARTITION`."""
    key = PartitionKey.parse(partition_key)
    return "".join(f"{dim}={_partition_value(v)}/" for dim, v in key.values.items())


def asset_data_file(namespace: str, name: str, partition_key: str, file_id: str) -> str:
    """The output file ``file_id`` of one partition of an asset."""
    return f"{asset_data_dir(namespace, name)}{partition_path(partition_key)}{file_id}.parquet"
