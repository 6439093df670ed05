"""Checkout transactions and the canteen's day in numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query

from cloud.api.auth import Anyone
from cloud.api.deps import ServicesDep, SessionDep
from cloud.api.params import aware
from cloud.api.schemas import CheckoutSummaryPublic, TierPublic, TransactionPublic, as_utc
from cloud.storage import checkout
from wire.checkout import fen_to_yuan

router = APIRouter(prefix="/api/v1/checkout", tags=["checkout"])

Site = Annotated[str | None, Query(max_length=64)]
Start = Annotated[datetime | None, Query(description="ISO 8601; default: the last 24 h")]
End = Annotated[datetime | None, Query(description="ISO 8601, exclusive; default: now")]


def _window(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    end = aware(end) if end else datetime.now(UTC)
    try:
        start = aware(start) if start else end - timedelta(days=1)
    except OverflowError:  # an end within a day of year 1
        raise HTTPException(422, "end is too early") from None
    if start >= end:
        raise HTTPException(422, "start must be before end")
    return start, end


@router.get("/transactions", response_model=list[TransactionPublic])
def list_transactions(
    *,
    session: SessionDep,
    who: Anyone,
    site: Site = None,
    start: Start = None,
    end: End = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[TransactionPublic]:
    """Newest first; each with its bill as it stands (staff corrections applied)."""
    start, end = _window(start, end)
    bills = checkout.list_bills(session, site=site, start=start, end=end, limit=limit)
    return [TransactionPublic.from_bill(b) for b in bills]


@router.get("/summary", response_model=CheckoutSummaryPublic)
def summary(
    *,
    session: SessionDep,
    who: Anyone,
    services: ServicesDep,
    site: Site = None,
    start: Start = None,
    end: End = None,
) -> CheckoutSummaryPublic:
    """Meals per hour (local time), revenue per colour tier, share of trays sent to staff."""
    start, end = _window(start, end)
    zone = ZoneInfo(services.settings.timezone)
    bills = checkout.list_bills(session, site=site, start=start, end=end, limit=100_000)

    def hour_of(ts: datetime) -> str:
        return (as_utc(ts) or ts).astimezone(zone).strftime("%H:00")

    s = checkout.summarise(bills, hour_of=hour_of)
    tiers = sorted(s.items_per_colour, key=lambda t: -s.revenue_per_colour_fen[t])
    return CheckoutSummaryPublic(
        start=start,
        end=end,
        timezone=services.settings.timezone,
        trays=s.trays,
        revenue=fen_to_yuan(s.revenue_fen),
        sent_to_staff=s.sent_to_staff,
        staff_share=round(s.sent_to_staff / s.trays, 4) if s.trays else 0.0,
        corrected=s.corrected,
        meals_per_hour=dict(sorted(s.meals_per_hour.items())),
        revenue_per_tier=[
            TierPublic(
                tier=t,
                items=s.items_per_colour[t],
                revenue=fen_to_yuan(s.revenue_per_colour_fen[t]),
            )
            for t in tiers
        ],
    )
