"""What a lake can serve: surfaces (from the contract registry), dates, and metadata."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from marketphys.pipeline import lake as lakemod
from marketphys.pipeline.contracts import SCHEMA_VERSION, Contract, by_surface
from marketphys.serving.protocol import DEFAULT_SURFACES, canonical_order


@dataclass
class Catalog:
    """The served view of one lake for one product (e.g. ES)."""

    lake: Path
    product: str = "ES"

    def __post_init__(self) -> None:
        self.lake = Path(self.lake)
        if not self.lake.is_dir():
            raise lakemod.LakeError(f"lake directory {str(self.lake)!r} does not exist; build one with `marketphys build`")
        lakemod.partition_dir(self.lake, "silver.x", self.product, "2000-01-01")  # validates the product name

    def contracts(self) -> dict[str, Contract]:
        return by_surface()

    def surfaces(self) -> list[str]:
        return canonical_order(self.contracts())

    def schema_version(self, surface: str) -> str:
        return getattr(self.contracts()[surface], "version", SCHEMA_VERSION)

    def dates(self, surface: str) -> list[str]:
        return lakemod.list_dates(self.lake, self.contracts()[surface].name, self.product)

    def all_dates(self) -> list[str]:
        out: set[str] = set()
        for s in self.surfaces():
            out.update(self.dates(s))
        return sorted(out)

    def default_date(self) -> str | None:
        """The newest date that has futures snaps (else any data at all)."""
        d = self.dates("snap") if "snap" in self.contracts() else []
        d = d or self.all_dates()
        return d[-1] if d else None

    def meta(self) -> dict:
        cs = self.contracts()
        return {
            "contract_version": SCHEMA_VERSION,
            "product": self.product,
            "default_surfaces": list(DEFAULT_SURFACES),
            "dates": self.all_dates(),
            "surfaces": {
                s: {"dataset": cs[s].name, "window_ms": cs[s].window_ms, "rows_per_window": cs[s].rows_per_window,
                    "schema_version": self.schema_version(s), "default": s in DEFAULT_SURFACES,
                    "columns": [{"name": f.name, "type": str(f.type)} for f in cs[s].schema],
                    "dates": self.dates(s), "description": cs[s].description}
                for s in self.surfaces()
            },
        }
