"""ForwardingStore: it forwards every operation of the port, and so does each wrapper on it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import pytest

from arco.storage import (
    CountingStore,
    FaultyStore,
    ForwardingStore,
    IfVersion,
    ObjectData,
    ObjectMeta,
    ObjectStore,
    RetryingStore,
    ScopedStore,
)
from arco.storage.forwarding import PORT_OPS
from arco.storage.metered import MeteredStore

T = TypeVar("T")
WHEN = datetime(2026, 1, 1, tzinfo=UTC)
META = ObjectMeta("a/k", 3, "v1", WHEN)

#: One call per operation of the port: its arguments and what the inner store returns.
CALLS: dict[str, tuple[tuple[Any, ...], Any]] = {
    "get": (("a/k",), ObjectData(b"abc", "v1", 3, WHEN)),
    "get_range": (("a/k", 1, 3), b"bc"),
    "head": (("a/k",), META),
    "put": (("a/k", b"abc", IfVersion("v1")), "v2"),
    "delete": (("a/k",), None),
    "list": (("a/",), [META]),
    "sign": (("a/k", 60), "https://signed.example/a/k"),
}
#: keyword arguments of those calls (forwarded as keywords)
KWARGS: dict[str, dict[str, Any]] = {"list": {"start_after": "a/j"}}


def port_members() -> set[str]:
    return {name for name in vars(ObjectStore) if not name.startswith("_")}


class Recorder:
    """A stand-in inner store that records each call and returns the canned result."""

    url = "memory://recorder"

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, op: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((op, (*args, *sorted(kwargs.items()))))
            result = CALLS[op][1]
            return iter(result) if op == "list" else result

        return call


class Hooked(ForwardingStore):
    """A wrapper that overrides only the hook, noting each operation it sees."""

    def __init__(self, inner: ObjectStore) -> None:
        super().__init__(inner)
        self.seen: list[tuple[str, str]] = []

    def _forward(self, op: str, key: str, call: Callable[[], T]) -> T:
        self.seen.append((op, key))
        return call()


WRAPPERS: dict[str, Callable[[ObjectStore], ForwardingStore]] = {
    "forwarding": ForwardingStore,
    "hooked": Hooked,
    "counting": CountingStore,
    "metered": lambda inner: MeteredStore(inner, "test"),
    "retrying": RetryingStore,
    "faulty": FaultyStore,
}


def test_port_ops_are_the_methods_of_the_port() -> None:
    assert isinstance(vars(ObjectStore)["url"], property)
    assert set(PORT_OPS) == port_members() - {"url"}
    assert set(CALLS) == set(PORT_OPS), "add the new operation to CALLS"


def test_base_defines_every_member_of_the_port() -> None:
    assert port_members() <= set(vars(ForwardingStore))
    assert isinstance(ForwardingStore(cast(ObjectStore, Recorder())), ObjectStore)


def test_scoped_store_overrides_every_member_of_the_port() -> None:
    # an operation inherited from the base would reach the inner store unscoped
    assert port_members() <= set(vars(ScopedStore))


@pytest.mark.parametrize("op", PORT_OPS)
@pytest.mark.parametrize("wrapper", WRAPPERS.values(), ids=WRAPPERS.keys())
def test_wrapper_forwards_each_operation_unchanged(
    wrapper: Callable[[ObjectStore], ForwardingStore], op: str
) -> None:
    inner = Recorder()
    store = wrapper(cast(ObjectStore, inner))
    assert store.inner is inner
    assert store.url == inner.url
    args, expected = CALLS[op]
    kwargs = KWARGS.get(op, {})
    result = getattr(store, op)(*args, **kwargs)
    if op == "list":
        assert list(result) == expected
    else:
        assert result is expected
    assert inner.calls == [(op, (*args, *sorted(kwargs.items())))]


def test_defaults_are_forwarded() -> None:
    inner = Recorder()
    store = ForwardingStore(cast(ObjectStore, inner))
    store.put("a/k", b"abc")
    list(store.list())
    assert inner.calls == [
        ("put", ("a/k", b"abc", "overwrite")),
        ("list", ("", ("start_after", None))),
    ]


def test_every_operation_goes_through_the_hook() -> None:
    store = Hooked(cast(ObjectStore, Recorder()))
    for op in PORT_OPS:
        args, _ = CALLS[op]
        result = getattr(store, op)(*args)
        if isinstance(result, Iterator):
            list(result)
    assert store.seen == [(op, CALLS[op][0][0]) for op in PORT_OPS]
