"""An iCalendar file (RFC 5545) holding one event: a sitting, for one person's calendar.

Written by hand rather than with a library: one VEVENT needs only the lines below, the content-line
folding (3.1) and TEXT escaping (3.3.11). The tests read the files back with the `icalendar`
package. METHOD:PUBLISH, not REQUEST: an iTIP request (RFC 5546) needs an ORGANIZER who answers
replies, and nobody reads a calendar's replies here. A change is the same UID with a higher
SEQUENCE, which calendar programs apply to the event they hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

MAX_LINE_OCTETS = 75  # excluding the line break (RFC 5545 3.1)


@dataclass(frozen=True)
class Event:
    uid: str  # stable for one sitting and one person: a change updates the event it replaces
    sequence: int  # 0 for the invitation, then one more per change
    starts_at: datetime
    ends_at: datetime
    summary: str
    location: str
    description: str
    stamp: datetime  # DTSTAMP: when this version of the event was written
    cancelled: bool = False


def escape_text(value: str) -> str:
    """TEXT values: backslash, semicolon and comma escaped; line breaks as \\n."""
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return value.replace("\r\n", "\\n").replace("\r", "\\n").replace("\n", "\\n")


def fold(line: str) -> str:
    """Split a content line into pieces of at most 75 octets, each continuation starting with a
    space; never inside a UTF-8 character (a Chinese character is 3 octets)."""
    pieces: list[str] = []
    current, size, limit = "", 0, MAX_LINE_OCTETS
    for char in line:
        octets = len(char.encode("utf-8"))
        if size + octets > limit:
            pieces.append(current)
            current, size, limit = "", 0, MAX_LINE_OCTETS - 1  # the leading space counts
        current += char
        size += octets
    pieces.append(current)
    return "\r\n ".join(pieces)


def utc_stamp(moment: datetime) -> str:
    """A DATE-TIME in UTC ("form #2"): 20261212T010000Z."""
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def calendar(event: Event, *, product: str = "-//trainer//sittings//EN") -> str:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{product}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:{event.uid}",
        f"DTSTAMP:{utc_stamp(event.stamp)}",
        f"SEQUENCE:{event.sequence}",
        f"DTSTART:{utc_stamp(event.starts_at)}",
        f"DTEND:{utc_stamp(event.ends_at)}",
        f"SUMMARY:{escape_text(event.summary)}",
        f"LOCATION:{escape_text(event.location)}",
        f"DESCRIPTION:{escape_text(event.description)}",
        f"STATUS:{'CANCELLED' if event.cancelled else 'CONFIRMED'}",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "".join(fold(line) + "\r\n" for line in lines)
