"""LayeredMap behaves exactly like a dict, whatever the chain of derived versions."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from arco.metadata.layered import MAX_LAYERS, LayeredMap

keys = st.integers(0, 40)
ops = st.lists(st.tuples(st.booleans(), keys, st.integers()), max_size=12)


@settings(max_examples=200)
@given(st.lists(ops, min_size=1, max_size=60))
def test_derived_versions_match_dict_snapshots(versions: list[list[tuple[bool, int, int]]]) -> None:
    current: LayeredMap[int, int] = LayeredMap({i: -i for i in range(20)})
    model = {i: -i for i in range(20)}
    history = [(current, dict(model))]
    for changes in versions:
        current = current.derive()
        for is_set, key, value in changes:
            if is_set:
                current.set(key, value)
                model[key] = value
            else:
                current.delete(key)
                model.pop(key, None)
        history.append((current, dict(model)))
    # every version, old ones included, still shows exactly its own content
    for layered, expected in history:
        assert dict(layered.items()) == expected
        assert len(layered) == len(expected)
        for key in range(45):
            assert (key in layered) == (key in expected)
            assert layered.get(key) == expected.get(key)


def test_layers_stay_bounded() -> None:
    current: LayeredMap[int, int] = LayeredMap({i: i for i in range(1000)})
    for step in range(200):
        current = current.derive()
        current.set(step, -step)
        assert len(current._layers) <= MAX_LAYERS + 2
    assert current[5] == -5 and current[500] == 500 and len(current) == 1000
