"""Request parameters more than one route takes, checked the same way everywhere."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Path, Query

# Ids are SQL integers: a larger number is no id of ours (and SQLite cannot bind it).
SQL_ID_MAX = 2**63 - 1
SqlId = Annotated[int, Path(ge=1, le=SQL_ID_MAX)]
SqlIdQuery = Annotated[int | None, Query(ge=1, le=SQL_ID_MAX)]


def aware(moment: datetime) -> datetime:
    """A query's time: one without a zone is taken as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
