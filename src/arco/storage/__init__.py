"""Object storage: the port, its backends, and the wrappers used by the tests."""

from arco.storage.counting import CountingStore
from arco.storage.faults import FaultyStore, SimulatedCrash
from arco.storage.forwarding import ForwardingStore
from arco.storage.keys import ScopedStore, validate_key, validate_prefix
from arco.storage.local import LocalFileStore
from arco.storage.obstore_backend import ObstoreStore
from arco.storage.port import IfVersion, ObjectData, ObjectMeta, ObjectStore, PutMode
from arco.storage.retry import RetryingStore
from arco.storage.signing import UrlSigner
from arco.storage.url import open_store

__all__ = [
    "CountingStore",
    "FaultyStore",
    "ForwardingStore",
    "IfVersion",
    "LocalFileStore",
    "ObjectData",
    "ObjectMeta",
    "ObjectStore",
    "ObstoreStore",
    "PutMode",
    "RetryingStore",
    "ScopedStore",
    "SimulatedCrash",
    "UrlSigner",
    "open_store",
    "validate_key",
    "validate_prefix",
]
