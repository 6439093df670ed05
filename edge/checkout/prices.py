"""The site's price table: a price per plate colour (self-select trays) and a menu of
numbered dishes (menu orders). Written in yuan in TOML; held in fen.

```toml
version = "2026-11-autumn"      # optional; defaults to a digest of the table
[colours]                      # yuan per plate or bowl of that colour
red = 12
orange = 10
white = 3.5
[menu]                         # order number → dish and price
A1 = { name = "Braised pork rice", price = 18 }
```
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from wire.checkout import PRICED_COLOURS, Colour, fen_to_yuan, yuan_to_fen

Yuan = str | int | float


class PriceError(ValueError):
    """A price table that cannot be used, or a bill it cannot price."""


class MenuDish(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    price_fen: int = Field(ge=0)


class PriceTable(BaseModel):
    """Validated and in fen. Every colour it names must be one of the eight."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    colours: dict[Colour, int] = Field(default_factory=dict)
    menu: dict[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,32}$")], MenuDish] = (
        Field(default_factory=dict)
    )

    @field_validator("colours")
    @classmethod
    def _no_price_for_unknown(cls, prices: dict[Colour, int]) -> dict[Colour, int]:
        if Colour.UNKNOWN in prices:
            raise ValueError("'unknown' cannot have a price: such trays go to staff")
        if any(fen < 0 for fen in prices.values()):
            raise ValueError("prices cannot be negative")
        return prices

    def price_of(self, colour: Colour) -> int:
        """The price of a colour in fen; :class:`PriceError` if the table has none."""
        try:
            return self.colours[colour]
        except KeyError:
            raise PriceError(
                f"price table {self.version!r} has no price for {colour.value} plates"
            ) from None

    def as_yuan(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "colours": {c.value: fen_to_yuan(f) for c, f in self.colours.items()},
            "menu": {
                k: {"name": d.name, "price": fen_to_yuan(d.price_fen)} for k, d in self.menu.items()
            },
        }


def parse_price_table(data: dict[str, Any]) -> PriceTable:
    """A table as written (yuan) → :class:`PriceTable` (fen); :class:`PriceError` says what
    is wrong, naming the colour or dish. A flat table (``red = 12`` at the top level) is
    read as the colours."""
    if "colours" not in data and "menu" not in data:
        data = {
            "version": data.get("version"),
            "colours": {k: v for k, v in data.items() if k != "version"},
        }
    unknown = set(data) - {"version", "colours", "menu"}
    if unknown:
        raise PriceError(f"unknown key(s) in the price table: {', '.join(sorted(unknown))}")
    colours: dict[str, int] = {}
    for colour, yuan in dict(data.get("colours") or {}).items():
        if colour not in {c.value for c in PRICED_COLOURS}:
            valid = ", ".join(c.value for c in PRICED_COLOURS)
            raise PriceError(f"{colour!r} is not a plate colour (one of: {valid})")
        try:
            colours[colour] = yuan_to_fen(yuan)
        except ValueError as exc:
            raise PriceError(f"colours.{colour}: {exc}") from None
    menu: dict[str, dict[str, Any]] = {}
    for code, dish in dict(data.get("menu") or {}).items():
        if not isinstance(dish, dict) or set(dish) != {"name", "price"}:
            raise PriceError(f'menu.{code}: expected {{ name = "…", price = 12.5 }}')
        try:
            menu[code] = {"name": dish["name"], "price_fen": yuan_to_fen(dish["price"])}
        except ValueError as exc:
            raise PriceError(f"menu.{code}: {exc}") from None
    if not colours and not menu:
        raise PriceError("the price table prices nothing")
    version = (
        data.get("version")
        or "sha256:"
        + hashlib.sha256(
            json.dumps({"colours": colours, "menu": menu}, sort_keys=True).encode()
        ).hexdigest()[:16]
    )
    try:
        return PriceTable.model_validate(
            {"version": str(version), "colours": colours, "menu": menu}
        )
    except ValueError as exc:
        raise PriceError(str(exc)) from None


def load_price_table(path: Path) -> PriceTable:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PriceError(f"cannot read price table {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise PriceError(f"price table {path} is not valid TOML: {exc}") from None
    return parse_price_table(data)
