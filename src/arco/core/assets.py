"""Asset keys: ``namespace/name``, one definition for the catalog and flow."""

from __future__ import annotations

from dataclasses import dataclass

from arco.core.names import validate_name
from arco.errors import ValidationError


@dataclass(frozen=True, order=True)
class AssetKey:
    """A validated ``namespace/name`` pair; both segments are NFC-normalized names."""

    namespace: str
    name: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "namespace", validate_name("asset_key.namespace", self.namespace))
        object.__setattr__(self, "name", validate_name("asset_key.name", self.name))

    @classmethod
    def parse(cls, s: str) -> AssetKey:
        """Parse ``"namespace/name"`` (exactly one ``/``)."""
        if not isinstance(s, str):
            raise ValidationError(f"asset_key: must be a string (got {type(s).__name__})")
        if s.count("/") != 1:
            raise ValidationError(
                f"asset_key: must be 'namespace/name' with exactly one '/' (got {s!r})"
            )
        namespace, name = s.split("/")
        return cls(namespace, name)

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"
