import dataclasses

import pytest

from arco.core.scope import DEFAULT_SCOPE, Scope, validate_scope_part
from arco.errors import ValidationError, preview


@pytest.mark.parametrize("value", ["a", "0", "acme", "acme-corp_2", "9lives", "a" * 63, "a-", "a_"])
def test_validate_scope_part_accepts(value: str) -> None:
    assert validate_scope_part("tenant", value) == value


@pytest.mark.parametrize(
    "value",
    ["", "a" * 64, "-a", "_a", "Acme", "acme corp", "acme.corp", "acme/x", "été", "acme\n", "a%b"],
)
def test_validate_scope_part_rejects(value: str) -> None:
    with pytest.raises(ValidationError) as info:
        validate_scope_part("workspace", value)
    assert str(info.value) == (
        "workspace: must be 1-63 characters of [a-z0-9_-] starting with a letter or digit "
        f"(got {preview(value)})"
    )


def test_validate_scope_part_rejects_non_string() -> None:
    with pytest.raises(ValidationError, match=r"^tenant: "):
        validate_scope_part("tenant", 7)  # type: ignore[arg-type]


def test_scope_prefix() -> None:
    assert Scope("acme", "prod-1").prefix == "tenant=acme/workspace=prod-1/"


def test_scope_names_the_bad_field() -> None:
    with pytest.raises(ValidationError) as info:
        Scope("Bad!", "ok")
    assert str(info.value) == (
        "tenant: must be 1-63 characters of [a-z0-9_-] starting with a letter or digit (got 'Bad!')"
    )
    with pytest.raises(ValidationError, match=r"^workspace: .*got '_x'"):
        Scope("ok", "_x")


def test_scope_is_frozen_and_hashable() -> None:
    scope = Scope("acme", "prod")
    with pytest.raises(dataclasses.FrozenInstanceError):
        scope.tenant = "other"  # type: ignore[misc]
    assert {scope, Scope("acme", "prod")} == {scope}
    assert scope != Scope("acme", "dev")


def test_default_scope() -> None:
    assert DEFAULT_SCOPE == Scope("default", "default")
    assert DEFAULT_SCOPE.prefix == "tenant=default/workspace=default/"
