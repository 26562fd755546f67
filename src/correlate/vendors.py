"""Who owns what: the vendor registry, and which vendors an incident concerns.

``at_fault`` are the owners of the values in the attributed scope, and of values the scope implies (a model
fault is its brand's fault: every contact of the model carries the brand). ``affected`` are the owners of other
values strongly represented among the incident's reporters — the content provider whose customers are hit by a
device bug. With no registry, every value of the owned dimensions (``device_brand`` and ``service``) is its own
vendor, named by its value in lower case with runs of other characters turned into ``-``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from correlate.scope import Scope

__all__ = ["AFFECTED_SHARE", "VendorRegistry", "vendor_slug"]

_SLUG = re.compile(r"[^0-9a-z]+")
# A value carried by at least this share of an incident's reporters makes its owner affected.
AFFECTED_SHARE = 0.2


def vendor_slug(value: str) -> str:
    return _SLUG.sub("-", value.casefold()).strip("-") or "unknown"


@dataclass(frozen=True)
class VendorRegistry:
    """``owners[dimension][value] -> vendor id``; values of ``owned_dimensions`` not listed own themselves."""

    owners: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    owned_dimensions: Sequence[str] = ("device_brand", "service")
    name_unlisted: bool = True

    @classmethod
    def from_config(cls, config: Mapping[str, object]) -> VendorRegistry:
        """From ``{"vendors": {"rokit": {"device_brand": ["Rokit"]}}, "owned_dimensions": [...]}``."""
        owners: dict[str, dict[str, str]] = {}
        vendors = config.get("vendors", {})
        if not isinstance(vendors, Mapping):
            raise ValueError("vendors: must map a vendor id to {dimension: [values]}")
        for vendor, claims in vendors.items():
            if not isinstance(claims, Mapping):
                raise ValueError(f"vendors.{vendor}: must map dimension names to lists of values")
            for dimension, values in claims.items():
                for value in [values] if isinstance(values, str) else values:
                    owners.setdefault(dimension, {})[value.casefold()] = str(vendor)
        owned = config.get("owned_dimensions", ("device_brand", "service"))
        if not isinstance(owned, Sequence) or isinstance(owned, str):
            raise ValueError("owned_dimensions: must be a list of dimension names")
        return cls(owners, tuple(str(d) for d in owned), bool(config.get("name_unlisted", True)))

    def owner(self, dimension: str, value: str) -> str | None:
        listed = self.owners.get(dimension, {}).get(value.casefold())
        if listed is not None:
            return listed
        if self.name_unlisted and dimension in self.owned_dimensions:
            return vendor_slug(value)
        return None

    def involved(
        self, scope: Scope, implied: Scope, value_shares: Mapping[tuple[str, str], float]
    ) -> tuple[list[str], list[str]]:
        """(at_fault, affected) vendor ids.

        ``implied`` are values every contact of the scope normally carries (learned, not guessed from the
        incident's few reporters); ``value_shares`` is each (dimension, value)'s share of the incident's reporters.
        """
        at_fault = {vendor for name, value in (*scope, *implied) if (vendor := self.owner(name, value))}
        affected = {
            vendor
            for (name, value), share in value_shares.items()
            if share >= AFFECTED_SHARE and (vendor := self.owner(name, value)) and vendor not in at_fault
        }
        return sorted(at_fault), sorted(affected)
