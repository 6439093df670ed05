"""What the parking API answers (beside cloud.api.schemas, which other work shares)."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel

from cloud.alerts.site_map import ParkingBay
from cloud.storage.parking import BayView, stud_health
from cloud.storage.tables import ParkingStudRow


def _time(us: int | None) -> datetime | None:
    return None if us is None else datetime.fromtimestamp(us / 1e6, UTC)


class BayPublic(BaseModel):
    site: str
    bay_id: int
    name: str | None
    box_id: str
    bikes: int
    capacity: int
    occupancy: float | None
    """bikes / capacity; None for a bay of unknown capacity."""
    over_capacity: bool
    studs_total: int
    studs_healthy: int
    as_of: datetime | None
    place: ParkingBay | None = None
    """Where the site map draws it (None: not on the site map)."""

    @classmethod
    def of(cls, view: BayView, place: ParkingBay | None) -> BayPublic:
        row = view.row
        return cls(
            place=place,
            site=row.site,
            bay_id=row.bay_id,
            name=row.name,
            box_id=row.box_id,
            bikes=row.bikes,
            capacity=row.capacity,
            occupancy=round(row.bikes / row.capacity, 3) if row.capacity else None,
            over_capacity=row.over_capacity,
            studs_total=view.studs_total,
            studs_healthy=view.studs_healthy,
            as_of=_time(row.as_of_us),
        )


class StudPublic(BaseModel):
    stud_id: int
    site: str
    box_id: str
    area: str
    area_id: int
    health: str
    """``ok``, or the worst of ``offline``, ``tampered``, ``low_battery``."""
    online: bool
    tamper: bool
    low_battery: bool
    last_seen: datetime | None
    battery_mv: int | None
    rssi_dbm: float | None
    bikes: float
    as_of: datetime | None

    @classmethod
    def of(cls, row: ParkingStudRow) -> StudPublic:
        return cls(
            stud_id=row.stud_id,
            site=row.site,
            box_id=row.box_id,
            area=row.area,
            area_id=row.area_id,
            health=stud_health(row),
            online=row.online,
            tamper=row.tamper,
            low_battery=row.low_battery,
            last_seen=_time(row.last_seen_us),
            battery_mv=row.battery_mv,
            rssi_dbm=row.rssi_dbm,
            bikes=row.bikes,
            as_of=_time(row.as_of_us),
        )
