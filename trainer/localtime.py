"""The installation's time zone (`TRAINER_TIME_ZONE`, default Asia/Shanghai).

Moments are stored and served by the JSON API in UTC. Everything a person reads - a page, an
export, a reminder - shows them in this zone, and reports count months in it: an exam graded at
2026-11-30 17:00 UTC is 1 December in Harbin and counts in December.

The zone travels with the `Database` (and every session it opens), because the month keys the
reports store are written in it: code that writes or reads them needs no settings of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import get_timezone_name
from sqlalchemy.orm import Session as DbSession

from trainer.i18n import N_

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


# Zones whose name in a language is not CLDR's: in Chinese, China's one zone is 北京时间 (what
# clocks, broadcasts and documents say) rather than "中国标准时间". English shows the IANA name, as
# set in TRAINER_TIME_ZONE.
ZONE_NAMES = {"Asia/Shanghai": N_("Asia/Shanghai")}
# Dates as each language writes them: ISO in English (as before), 2027年1月1日 in Chinese (by hand:
# Babel's formatter costs ~50 us a date, felt on a list of 50 or an audit page of 100).
_DATE_FORMATS = {"en": "{0:%Y-%m-%d}", "zh-CN": "{0.year}年{0.month}月{0.day}日"}
_BABEL_LOCALES = {"en": "en", "zh-CN": "zh_CN"}


class LocalTimes:
    """Dates and times as a person reads them: in the installation's zone, in their language,
    with the zone named ("2026-12-03 19:49 (Asia/Shanghai, UTC+8)", "2026年12月3日 19:49（北京时间，
    UTC+8）"). The templates' filters; views and exports use the same methods."""

    def __init__(self, zone: ZoneInfo, lang: str, gettext: Callable[[str], str]) -> None:
        self.zone = zone
        self.lang = lang
        self.gettext = gettext
        self._locale = _BABEL_LOCALES.get(lang, "en")
        self._date = _DATE_FORMATS.get(lang, _DATE_FORMATS["en"])

    def zone_name(self, moment: datetime | None = None) -> str:
        key = self.zone.key
        if key in ZONE_NAMES:
            return self.gettext(ZONE_NAMES[key])
        if self.lang == "en":
            return key
        return get_timezone_name(local(moment or datetime.now(UTC), self.zone), "long", locale=self._locale)

    def zone_label(self, moment: datetime | None = None) -> str:
        """The zone and its offset at that moment (DST zones change offset): "Asia/Shanghai, UTC+8"."""
        at = moment or datetime.now(UTC)
        return self.gettext("%(zone)s, %(offset)s") % {
            "zone": self.zone_name(at),
            "offset": utc_offset(at, self.zone),
        }

    def named(self, text: str, zone: str) -> str:
        return self.gettext("%(value)s (%(zone)s)") % {"value": text, "zone": zone}

    def heading(self, text: str) -> str:
        """A column heading for dates or times in the zone: "Expires (Asia/Shanghai)"."""
        return self.named(text, self.zone_name())

    def when(self, moment: datetime | None, *, seconds: bool = False, named: bool = True) -> str:
        if moment is None:
            return ""
        wall = local(moment, self.zone)
        text = self._date.format(wall) + wall.strftime(" %H:%M:%S" if seconds else " %H:%M")
        return self.named(text, self.zone_label(moment)) if named else text

    def clock(self, moment: datetime | None, *, named: bool = True) -> str:
        if moment is None:
            return ""
        text = local(moment, self.zone).strftime("%H:%M")
        return self.named(text, self.zone_label(moment)) if named else text

    def day(self, moment: datetime | None, *, named: bool = False) -> str:
        """The calendar day in the zone (a certificate expiring at 2026-12-31 20:00 UTC expires
        on 2027-01-01 in Shanghai). Unnamed by default: tables name the zone in their heading."""
        if moment is None:
            return ""
        text = self._date.format(local(moment, self.zone))
        return self.named(text, self.zone_name(moment)) if named else text

    def calendar(self, day: date | None) -> str:
        """A calendar day that is already the zone's (an assignment's due date), as the language
        writes dates: the same look as `day`."""
        return self._date.format(day) if day is not None else ""

    def iso(self, moment: datetime | None) -> str:
        """For `<time datetime=…>`: the moment with the zone's offset, as machines read it."""
        return local(moment, self.zone).isoformat() if moment is not None else ""
