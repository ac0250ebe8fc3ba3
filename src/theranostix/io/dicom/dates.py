"""Parsing of DICOM DA, TM and DT values into timezone-naive datetimes (scanner local time)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from theranostix.core.errors import InvalidInputError


def parse_da(value: object, where: str) -> date | None:
    """Parse a DA (``YYYYMMDD``); ``None`` when empty."""
    s = str(value or "").strip()
    if not s:
        return None
    try:
        return datetime.strptime(s[:8], "%Y%m%d").date()
    except ValueError as exc:
        raise InvalidInputError(f"invalid DICOM date {s!r}", where=where,
                                fix="dates must be YYYYMMDD") from exc


def parse_tm(value: object, where: str) -> time | None:
    """Parse a TM (``HHMMSS.ffffff``, also ``HH:MM:SS`` legacy); ``None`` when empty."""
    s = str(value or "").strip().replace(":", "")
    if not s:
        return None
    try:
        hh = int(s[0:2])
        mm = int(s[2:4]) if len(s) >= 4 else 0
        ss = int(s[4:6]) if len(s) >= 6 else 0
        frac = s[7:13] if len(s) > 7 and s[6] == "." else ""
        us = int(frac.ljust(6, "0")) if frac else 0
        if ss == 60:  # leap second allowed by DICOM
            ss = 59
        return time(hh, mm, ss, us)
    except (ValueError, IndexError) as exc:
        raise InvalidInputError(f"invalid DICOM time {s!r}", where=where,
                                fix="times must be HHMMSS[.ffffff]") from exc


def parse_dt(value: object, where: str) -> datetime | None:
    """Parse a DT (``YYYYMMDDHHMMSS.ffffff[&ZZXX]``) to a naive datetime; offset suffix dropped."""
    s = str(value or "").strip()
    if not s:
        return None
    for sep in ("+", "-"):
        if sep in s[8:]:
            s = s[: 8 + s[8:].index(sep)]
    d = parse_da(s[:8], where)
    if d is None:
        return None
    t = parse_tm(s[8:], where) if len(s) > 8 else time(0, 0)
    return datetime.combine(d, t or time(0, 0))


def combine(d: date | None, t: time | None) -> datetime | None:
    """Combine a date and a time; ``None`` if either is missing."""
    if d is None or t is None:
        return None
    return datetime.combine(d, t)


def nearest_day_before(t: time, reference: datetime, max_gap: timedelta = timedelta(hours=24)) -> datetime:
    """The datetime with clock time ``t`` closest before ``reference`` (within ``max_gap``).

    Used for date-less injection times (RadiopharmaceuticalStartTime is a TM): the injection is
    assumed to precede the scan, which handles injections before midnight and scans after it.
    """
    candidate = datetime.combine(reference.date(), t)
    if candidate > reference:
        candidate -= timedelta(days=1)
    if reference - candidate > max_gap:  # pragma: no cover - cannot happen with a 1-day shift
        raise InvalidInputError("injection time is more than a day before the scan")
    return candidate
