"""Silences: one-off and recurring maintenance windows, and reminders before they end.

A silence mutes the alerts its matchers select while one of its windows is in force:

* one-off (``recurrence`` NULL): the window is ``[starts_at, ends_at)``;
* recurring: windows from a schedule in local time (Asia/Ho_Chi_Minh), active between
  ``starts_at`` and ``ends_at`` (NULL = no end):

  - ``{"weekly": [{"days": [6], "from": "13:00", "to": "17:00"}]}`` — ISO weekdays (1 = Monday,
    6 = Saturday, 7 = Sunday); ``to`` may be ``"24:00"``; ``to`` before ``from`` wraps midnight;
  - ``{"yearly": [{"from": "12-30", "to": "01-02"}]}`` — whole local days, inclusive, may wrap the
    year end;
  - ``{"holiday": "tet"}`` (or a list) — a national holiday from the ``holidays`` library's
    Vietnamese calendar, widened to the whole run of days off around it (weekends included), so
    "tet" is the Tết week as people take it (e.g. 25/1–2/2/2025).

A person may end a silence early (``expired_at``). Pure: no I/O, ``now`` is always a parameter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo

from holidays import country_holidays

from alerts.notify.matchers import Matcher, MatcherError, matches_all, parse_matchers

__all__ = [
    "HOLIDAYS",
    "LOCAL_TZ",
    "Recurrence",
    "Silence",
    "SilenceError",
    "SilenceHit",
    "SilenceMatchCache",
    "SilenceRound",
    "Window",
    "active_window",
    "due_reminders",
    "is_silenced",
    "next_window",
    "parse_recurrence",
    "silence_state",
]

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
# Named holidays → a fragment of the holidays library's (English) names for them.
HOLIDAYS: dict[str, str] = {
    "tet": "Lunar New Year",
    "new_year": "New Year's Day",
    "hung_kings": "Hung Kings",
    "reunification": "Reunification",
    "labour": "Labor Day",
    "national_day": "National Day",
}
_WEEK = timedelta(days=7)
# Recurring windows are searched this far around `now`: a year covers yearly ranges and holidays.
_HORIZON_DAYS = 400


class SilenceError(ValueError):
    """An invalid silence or schedule; the message names the field."""


@dataclass(frozen=True)
class WeeklyWindow:
    days: frozenset[int]  # ISO weekdays 1..7
    start: time
    end: time | None  # None = midnight at the end of the day ("24:00")

    def length(self) -> timedelta:
        start = timedelta(hours=self.start.hour, minutes=self.start.minute)
        end = timedelta(days=1) if self.end is None else timedelta(hours=self.end.hour, minutes=self.end.minute)
        return end - start if end > start else end + timedelta(days=1) - start


@dataclass(frozen=True)
class YearlyRange:
    start: tuple[int, int]  # (month, day)
    end: tuple[int, int]  # inclusive


@dataclass(frozen=True)
class Recurrence:
    weekly: tuple[WeeklyWindow, ...] = ()
    yearly: tuple[YearlyRange, ...] = ()
    holidays: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.weekly:
            out["weekly"] = [
                {"days": sorted(w.days), "from": w.start.strftime("%H:%M"),
                 "to": "24:00" if w.end is None else w.end.strftime("%H:%M")}
                for w in self.weekly
            ]  # fmt: skip
        if self.yearly:
            out["yearly"] = [{"from": _md(y.start), "to": _md(y.end)} for y in self.yearly]
        if self.holidays:
            out["holiday"] = list(self.holidays)
        return out


def _md(md: tuple[int, int]) -> str:
    return f"{md[0]:02d}-{md[1]:02d}"


@dataclass(frozen=True)
class Window:
    """One span a silence is in force; ``end`` None = until someone ends it."""

    start: datetime
    end: datetime | None


@dataclass(frozen=True)
class Silence:
    id: int
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime | None
    recurrence: Recurrence | None = None
    comment: str = ""
    created_by: str = ""
    expired_at: datetime | None = None
    reminded_until: datetime | None = None

    def __post_init__(self) -> None:
        if self.recurrence is None and self.ends_at is None:
            raise SilenceError("ends_at: một lần tắt cần thời điểm kết thúc / a one-off silence needs ends_at")
        if self.ends_at is not None and self.ends_at <= self.starts_at:
            raise SilenceError("ends_at: phải sau starts_at / must be after starts_at")

    @property
    def until(self) -> datetime | None:
        """When the silence stops for good (its end, or the moment a person ended it)."""
        ends = [t for t in (self.ends_at, self.expired_at) if t is not None]
        return min(ends) if ends else None


@dataclass(frozen=True)
class SilenceHit:
    silence_id: int
    ends_at: datetime | None


# --------------------------------------------------------------------------- parsing


def _hhmm(value: Any, where: str, *, allow_24: bool = False) -> time | None:
    if not isinstance(value, str) or len(value) != 5 or value[2] != ":":
        raise SilenceError(f"{where}: giờ dạng HH:MM / time must be HH:MM, got {value!r}")
    if allow_24 and value == "24:00":
        return None
    try:
        return time(int(value[:2]), int(value[3:]))
    except ValueError as exc:
        raise SilenceError(f"{where}: giờ không hợp lệ / invalid time {value!r}") from exc


def _month_day(value: Any, where: str) -> tuple[int, int]:
    if not isinstance(value, str) or len(value) != 5 or value[2] != "-":
        raise SilenceError(f"{where}: ngày dạng MM-DD / date must be MM-DD, got {value!r}")
    try:
        parsed = date(2024, int(value[:2]), int(value[3:]))  # a leap year accepts 02-29
    except ValueError as exc:
        raise SilenceError(f"{where}: ngày không hợp lệ / invalid date {value!r}") from exc
    return parsed.month, parsed.day


def parse_recurrence(data: Any, where: str = "recurrence") -> Recurrence | None:
    if data is None:
        return None
    if not isinstance(data, Mapping):
        raise SilenceError(f"{where}: phải là đối tượng / must be an object")
    unknown = set(data) - {"weekly", "yearly", "holiday"}
    if unknown:
        raise SilenceError(f"{where}: khóa không hợp lệ / unknown keys {sorted(unknown)}")
    weekly, yearly, named = [], [], []
    for i, item in enumerate(_list(data.get("weekly", []), f"{where}.weekly")):
        here = f"{where}.weekly[{i}]"
        if not isinstance(item, Mapping) or set(item) != {"days", "from", "to"}:
            raise SilenceError(f"{here}: cần đúng days, from, to / needs exactly days, from, to")
        days = _list(item["days"], f"{here}.days")
        if not days or any(not isinstance(d, int) or isinstance(d, bool) or not 1 <= d <= 7 for d in days):
            raise SilenceError(f"{here}.days: thứ trong tuần 1 (thứ Hai)…7 (Chủ nhật) / ISO weekdays 1..7")
        start = _hhmm(item["from"], f"{here}.from")
        end = _hhmm(item["to"], f"{here}.to", allow_24=True)
        assert start is not None
        if end == start:
            raise SilenceError(f"{here}: from và to trùng nhau / from equals to")
        weekly.append(WeeklyWindow(frozenset(days), start, end))
    for i, item in enumerate(_list(data.get("yearly", []), f"{where}.yearly")):
        here = f"{where}.yearly[{i}]"
        if not isinstance(item, Mapping) or set(item) != {"from", "to"}:
            raise SilenceError(f"{here}: cần đúng from, to / needs exactly from, to")
        yearly.append(YearlyRange(_month_day(item["from"], f"{here}.from"), _month_day(item["to"], f"{here}.to")))
    raw_named = data.get("holiday", [])
    for i, name in enumerate([raw_named] if isinstance(raw_named, str) else _list(raw_named, f"{where}.holiday")):
        if name not in HOLIDAYS:
            raise SilenceError(f"{where}.holiday[{i}]: ngày lễ không rõ / unknown holiday {name!r}; "
                               f"known: {', '.join(HOLIDAYS)}")  # fmt: skip
        named.append(name)
    if not (weekly or yearly or named):
        raise SilenceError(f"{where}: lịch lặp rỗng / an empty schedule never applies")
    return Recurrence(tuple(weekly), tuple(yearly), tuple(named))


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list) or len(value) > 50:
        raise SilenceError(f"{where}: phải là danh sách (≤ 50) / must be a list of at most 50")
    return value


def parse_silence_matchers(data: Any) -> tuple[Matcher, ...]:
    try:
        return parse_matchers(data, "matchers", allow_empty=False)
    except MatcherError as exc:
        raise SilenceError(str(exc)) from exc


# --------------------------------------------------------------------------- windows


def _local(d: date, t: time | None) -> datetime:
    if t is None:
        return datetime.combine(d + timedelta(days=1), time(0), tzinfo=LOCAL_TZ)
    return datetime.combine(d, t, tzinfo=LOCAL_TZ)


@lru_cache(maxsize=64)
def _days_off(year: int) -> frozenset[date]:
    return frozenset(country_holidays("VN", years=year).keys())


@lru_cache(maxsize=256)
def holiday_span(name: str, year: int) -> tuple[date, date] | None:
    """The run of days off (holidays + weekends) around the named holiday of ``year``; inclusive."""
    fragment = HOLIDAYS[name]
    named = sorted(d for d, n in country_holidays("VN", years=year).items() if fragment in str(n))
    if not named:
        return None

    def off(d: date) -> bool:
        return d.weekday() >= 5 or d in _days_off(d.year)

    first, last = named[0], named[-1]
    while off(first - timedelta(days=1)):
        first -= timedelta(days=1)
    while off(last + timedelta(days=1)):
        last += timedelta(days=1)
    return first, last


def _occurrences(rec: Recurrence, around: datetime) -> list[Window]:
    """Every window of the schedule overlapping [around - horizon, around + horizon], merged."""
    local = around.astimezone(LOCAL_TZ).date()
    lo, hi = local - timedelta(days=_HORIZON_DAYS), local + timedelta(days=_HORIZON_DAYS)
    spans: list[tuple[datetime, datetime]] = []
    if rec.weekly:
        day = local - timedelta(days=8)
        while day <= local + timedelta(days=8):
            for w in rec.weekly:
                if day.isoweekday() in w.days:
                    start = _local(day, w.start)
                    spans.append((start, start + w.length()))
            day += timedelta(days=1)
    for year in range(lo.year, hi.year + 1):
        for y in rec.yearly:
            start_day = date(year, *_clip(year, y.start))
            end_year = year if y.end >= y.start else year + 1
            end_day = date(end_year, *_clip(end_year, y.end))
            spans.append((_local(start_day, time(0)), _local(end_day, None)))
        for name in rec.holidays:
            span = holiday_span(name, year)
            if span is not None:
                spans.append((_local(span[0], time(0)), _local(span[1], None)))
    spans.sort()
    merged: list[list[datetime]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return [Window(s, e) for s, e in merged]


def _clip(year: int, md: tuple[int, int]) -> tuple[int, int]:
    month, day = md
    if (month, day) == (2, 29) and not (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)):
        return 2, 28
    return month, day


def _bounded(w: Window, silence: Silence) -> Window | None:
    start = max(w.start, silence.starts_at)
    ends = [t for t in (w.end, silence.until) if t is not None]
    end = min(ends) if ends else None
    if end is not None and end <= start:
        return None
    return Window(start, end)


def active_window(silence: Silence, now: datetime) -> Window | None:
    """The window in force at ``now`` (bounded by the silence's own start, end and expiry)."""
    if silence.recurrence is None:
        w = _bounded(Window(silence.starts_at, silence.ends_at), silence)
        return w if w is not None and w.start <= now and (w.end is None or now < w.end) else None
    if now < silence.starts_at or (silence.until is not None and now >= silence.until):
        return None
    for occ in _occurrences(silence.recurrence, now):
        if occ.start <= now < (occ.end or now + timedelta(seconds=1)):
            return _bounded(occ, silence)
    return None


def next_window(silence: Silence, now: datetime) -> Window | None:
    """The window in force now, else the next one to come (None: no window left)."""
    current = active_window(silence, now)
    if current is not None:
        return current
    if silence.recurrence is None:
        return _bounded(Window(silence.starts_at, silence.ends_at), silence) if now < silence.starts_at else None
    probe = max(now, silence.starts_at)
    for occ in _occurrences(silence.recurrence, probe):
        if occ.end is not None and occ.end > probe:
            bounded = _bounded(occ, silence)
            if bounded is not None:
                return bounded
    return None


SilenceState = Literal["active", "pending", "expired"]


def silence_state(silence: Silence, now: datetime) -> SilenceState:
    """``active``: muting now; ``pending``: a window is still to come; ``expired``: none is."""
    if active_window(silence, now) is not None:
        return "active"
    return "pending" if next_window(silence, now) is not None else "expired"


def is_silenced(labels: Mapping[str, str], silences: Iterable[Silence], now: datetime) -> SilenceHit | None:
    """The silence muting these labels at ``now`` (the one in force longest), or None."""
    best: SilenceHit | None = None
    for s in silences:
        if not matches_all(s.matchers, labels):
            continue
        w = active_window(s, now)
        if w is None:
            continue
        if best is None or (best.ends_at is not None and (w.end is None or w.end > best.ends_at)):
            best = SilenceHit(s.id, w.end)
    return best


# fingerprint → (the labels the match was computed for, positions of the matching silences)
_Entries = dict[str, tuple[dict[str, str], tuple[int, ...]]]


class SilenceMatchCache:
    """Which silences' matchers select an alert, remembered per (fingerprint, labels) across rounds.

    A label match does not depend on time, so it is computed once per alert fingerprint and
    label set (an entry is keyed by fingerprint and used only while the labels are the same) and
    reused every round until the silences' matchers change (a silence created,
    edited, ended or gone: the set of (id, matchers) differs, and the cache starts over). Windows
    — recurring ones included — are evaluated against ``now`` every round, once per silence.
    Entries of alerts not seen in a round are dropped, so the cache holds one round's alerts.
    Not thread-safe: one planning round at a time uses it.
    """

    __slots__ = ("_entries", "_signature", "hits", "misses")

    def __init__(self) -> None:
        self._signature: tuple[tuple[int, tuple[Matcher, ...]], ...] | None = None
        self._entries: _Entries = {}
        self.hits = 0
        self.misses = 0

    def begin(self, silences: Sequence[Silence]) -> _Entries:
        """The entries still valid for these silences (the previous round's, or none)."""
        signature = tuple((s.id, s.matchers) for s in silences)
        if signature != self._signature:
            self._signature, self._entries = signature, {}
        return self._entries

    def end(self, entries: _Entries) -> None:
        """Keep exactly the entries this round used."""
        self._entries = entries


class SilenceRound:
    """``is_silenced`` for every alert of one planning round, without a scan of every silence.

    Built once per round: each silence's window at ``now`` (so a recurring or time-of-day silence
    is judged at this round's time), and an index of the silences by one equality matcher each
    (label → value → silences), so an alert is only tested against the silences that can select
    it. With a ``SilenceMatchCache`` the label match is reused across rounds. Call ``close`` at
    the end of the round to hand the used entries back to the cache.
    """

    __slots__ = ("_by_value", "_cache", "_entries", "_silences", "_unindexed", "_used", "_windows")

    def __init__(self, silences: Sequence[Silence], now: datetime, cache: SilenceMatchCache | None = None) -> None:
        self._silences = tuple(silences)
        self._windows = [active_window(s, now) for s in self._silences]
        self._by_value: dict[str, dict[str, list[int]]] = {}
        unindexed: list[int] = []
        for i, s in enumerate(self._silences):
            eq = next((m for m in s.matchers if m.op == "="), None)
            if eq is None:
                unindexed.append(i)
            else:
                self._by_value.setdefault(eq.label, {}).setdefault(eq.value, []).append(i)
        self._unindexed = tuple(unindexed)
        self._cache = cache
        self._entries = cache.begin(self._silences) if cache is not None else {}
        self._used: _Entries = {}

    def _matching(self, labels: Mapping[str, str]) -> tuple[int, ...]:
        """Positions (in the given order) of the silences whose matchers select ``labels``."""
        candidates = list(self._unindexed)
        for label, by_value in self._by_value.items():
            # A missing label reads as "" (an `=""` matcher selects alerts without the label).
            candidates.extend(by_value.get(labels.get(label, ""), ()))
        candidates.sort()
        return tuple(i for i in candidates if matches_all(self._silences[i].matchers, labels))

    def matching(self, fingerprint: str, labels: Mapping[str, str]) -> tuple[int, ...]:
        if self._cache is None:
            return self._matching(labels)
        # Keyed by fingerprint, and valid only for the same labels (a fingerprint's labels may
        # change, e.g. its severity): a dict comparison is cheaper than hashing the labels.
        entry = self._used.get(fingerprint) or self._entries.get(fingerprint)
        if entry is not None and entry[0] == labels:
            self._cache.hits += 1
        else:
            self._cache.misses += 1
            entry = (dict(labels), self._matching(labels))
        self._used[fingerprint] = entry
        return entry[1]

    def hit(self, fingerprint: str, labels: Mapping[str, str]) -> SilenceHit | None:
        """What ``is_silenced(labels, silences, now)`` answers."""
        best: SilenceHit | None = None
        for i in self.matching(fingerprint, labels):
            w = self._windows[i]
            if w is None:
                continue
            if best is None or (best.ends_at is not None and (w.end is None or w.end > best.ends_at)):
                best = SilenceHit(self._silences[i].id, w.end)
        return best

    def close(self) -> None:
        if self._cache is not None:
            self._cache.end(self._used)


@dataclass(frozen=True)
class Reminder:
    silence: Silence
    window_end: datetime


def due_reminders(silences: Sequence[Silence], now: datetime, lead: timedelta) -> list[Reminder]:
    """Silences whose current window ends within ``lead``, not yet reminded for that window.

    Once per window: ``reminded_until`` holds the window end a reminder went out for.
    """
    out = []
    for s in silences:
        w = active_window(s, now)
        if w is None or w.end is None or now < w.end - lead:
            continue
        if s.reminded_until is not None and s.reminded_until >= w.end:
            continue
        out.append(Reminder(s, w.end))
    return out
