"""The installation's time zone (`TRAINER_TIME_ZONE`, default Asia/Shanghai).

Moments are stored and served by the JSON API in UTC. Everything a person reads - a page, an
export, a reminder - shows them in this zone, and reports count months in it: an exam graded at
2026-11-30 17:00 UTC is 1 December in Harbin and counts in December.

The zone travels with the `Database` (and every session it opens), because the month keys the
reports store are written in it: code that writes or reads them needs no settings of its own.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.orm import Session as DbSession

DEFAULT_TIME_ZONE = "Asia/Shanghai"


def load_zone(name: str) -> ZoneInfo:
    """The zone for an IANA name; ValueError (saying what to set) for anything else."""
    if not name.strip():
        raise ValueError(_unknown(name))
    try:  # ZoneInfo itself refuses absolute paths and ".."; a folder ("Asia") is an OSError
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(_unknown(name)) from None


def _unknown(name: str) -> str:
    return (
        f"TRAINER_TIME_ZONE {name!r} is not an IANA time zone name: use one such as "
        f"Asia/Shanghai, Asia/Urumqi or Europe/Berlin (if every name is refused, this system "
        f"lacks time zone data: install the tzdata package)"
    )


@cache
def default_zone() -> ZoneInfo:
    return load_zone(DEFAULT_TIME_ZONE)


def zone_of(db: DbSession) -> ZoneInfo:
    """The zone of the database this session reads (set by `Database`); the default otherwise."""
    zone = db.info.get("time_zone")
    return zone if isinstance(zone, ZoneInfo) else default_zone()


def local(moment: datetime, zone: ZoneInfo) -> datetime:
    """The same moment on the zone's wall clock (aware)."""
    return moment.astimezone(zone)


def local_date(moment: datetime, zone: ZoneInfo) -> date:
    """The calendar day it is in the zone at that moment."""
    return moment.astimezone(zone).date()


def month_of(moment: datetime, zone: ZoneInfo) -> str:
    """The month ("2026-12") it is in the zone at that moment: the key reports count by."""
    return moment.astimezone(zone).strftime("%Y-%m")


def recent_months(now: datetime, zone: ZoneInfo, count: int = 12) -> list[str]:
    """The last `count` months in the zone, oldest first, ending with the current one."""
    today = local_date(now, zone)
    year, month = today.year, today.month
    months = []
    for _ in range(count):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return months[::-1]


def utc_offset(moment: datetime, zone: ZoneInfo) -> str:
    """The zone's offset at that moment as people write it: UTC+8, UTC+5:30, UTC-3, UTC."""
    offset = moment.astimezone(zone).utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    if minutes == 0:
        return "UTC"
    sign = "+" if minutes > 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")
