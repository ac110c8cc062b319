"""Working-day calendar for statutory deadlines (lịch ngày làm việc để tính hạn giải quyết).

Pure: no I/O, no clock. Every datetime in or out is timezone-aware; naive input raises
``CalendarError`` (a ``ValueError``). Results are aware datetimes in the calendar's time zone
(``Asia/Ho_Chi_Minh`` by default); callers compare instants, so the zone of a result is cosmetic.

Semantics
---------
* Working time = office hours (``OfficeHours.open`` to ``close``) on working days.
* A day is a working day by this precedence, strongest first:
  operator override ``working_days`` > operator override ``days_off`` > national calendar
  (``holidays.Vietnam``: Tết âm lịch, Giỗ Tổ Hùng Vương, 30/4, 1/5, 2/9, observed days off, days
  off swapped with a worked weekend day, and those worked weekend days themselves) > weekend rule
  (Saturday and Sunday off).
* "N ngày làm việc" = N full office days of working time counted from the moment of receipt. A
  receipt after closing time or on a day off starts counting at the next opening, so a dossier
  received Friday 18:00 with 1 working day is due Monday 17:00 (if Monday is a working day).
* A deadline landing exactly at closing time is that day's closing time, never the next opening.
* Working time is measured on the local wall clock. Asia/Ho_Chi_Minh has had no daylight saving
  time since 1975, so this equals elapsed seconds there.
* Pauses (the clock stops from a supplement request until the supplement arrives) extend the
  deadline by the working time they cover; see ``WorkingCalendar.due_at``.

How a statutory period is counted is a ``DeadlinePolicy`` an administrator sets per province
(``WorkingCalendar.statutory_due``): office hours, a receipt cut-off hour, and the due instant —
``clock`` (the receipt's time of day N working days later, as many slips print it; the built-in
default, the rules above) or ``end_of_day`` (Bộ luật Dân sự 2015 art. 147–148: counting starts the
day after receipt and the period ends at the end of its last working day). A period of 0 working
days means "within the working day of receipt" (trong ngày) under either.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from holidays import country_holidays

__all__ = [
    "BUILTIN_POLICY",
    "CalendarError",
    "CalendarOverrides",
    "DeadlinePolicy",
    "DueInstant",
    "OfficeHours",
    "WorkingCalendar",
]

_ONE_SECOND = timedelta(seconds=1)
_SATURDAY = 5


class CalendarError(ValueError):
    """Invalid input to the calendar (naive datetime, negative duration, reversed pause)."""


@dataclass(frozen=True)
class OfficeHours:
    """The working day's office sessions: ``open`` to ``close``, less an optional break.

    Without a break (the built-in 08:00–17:00) one working day is one clean span. With one (many
    provinces work 07:30–11:30 and 13:30–17:00) the break is not working time: a receipt during it
    counts from the afternoon session, and a deadline never lands inside it.
    """

    open: time = time(8, 0)
    close: time = time(17, 0)
    break_start: time | None = None
    break_end: time | None = None

    def __post_init__(self) -> None:
        times = [t for t in (self.open, self.close, self.break_start, self.break_end) if t is not None]
        if any(t.tzinfo is not None for t in times):
            raise CalendarError("Giờ làm việc không được gắn múi giờ / office hours must be naive times")
        if self.open >= self.close:
            raise CalendarError("Giờ mở cửa phải trước giờ đóng cửa / open must be before close")
        if (self.break_start is None) != (self.break_end is None):
            raise CalendarError("Giờ nghỉ trưa cần cả đầu và cuối / a break needs both its start and end")
        brk = (self.break_start, self.break_end)
        if brk[0] is not None and brk[1] is not None and not (self.open < brk[0] < brk[1] < self.close):
            raise CalendarError(
                "Giờ nghỉ phải nằm trong giờ làm việc / the break must fall strictly within office hours"
            )

    @property
    def seconds_per_day(self) -> int:
        span = datetime.combine(date.min, self.close) - datetime.combine(date.min, self.open)
        if self.break_start is not None and self.break_end is not None:
            span -= datetime.combine(date.min, self.break_end) - datetime.combine(date.min, self.break_start)
        return int(span // _ONE_SECOND)


@dataclass(frozen=True)
class CalendarOverrides:
    """Operator overrides kept in the database: extra days off and swapped working weekend days."""

    days_off: frozenset[date] = field(default_factory=frozenset)
    working_days: frozenset[date] = field(default_factory=frozenset)


DueInstant = Literal["clock", "end_of_day"]
DUE_INSTANTS: tuple[DueInstant, ...] = ("clock", "end_of_day")


@dataclass(frozen=True)
class DeadlinePolicy:
    """How a statutory period is counted: one version of one province's policy (or the national
    default, ``province_code == ""``). A pure value; the calendar takes it at construction.

    ``cut_off``: a receipt at or after this time of day on a working day counts as received on the
    next working day (many one-stop shops take dossiers until 17:00 but count late-afternoon ones
    from the next day). ``None``: no cut-off beyond closing time.
    """

    id: str = "builtin:vn-office-days"
    version: int = 1
    province_code: str = ""
    source: str = "built-in"  # built-in | database
    effective_from: date | None = None
    hours: OfficeHours = OfficeHours()
    cut_off: time | None = None
    due_instant: DueInstant = "clock"

    def __post_init__(self) -> None:
        if self.due_instant not in DUE_INSTANTS:
            raise CalendarError(f"due_instant phải là clock hoặc end_of_day / unknown due_instant {self.due_instant!r}")
        if self.cut_off is not None and self.cut_off.tzinfo is not None:
            raise CalendarError("Giờ chốt không được gắn múi giờ / cut-off must be a naive time")
        if self.cut_off is not None and not (self.hours.open < self.cut_off <= self.hours.close):
            raise CalendarError(
                "Giờ chốt nhận hồ sơ phải nằm trong giờ làm việc / cut-off must fall within office hours"
            )

    @property
    def plain(self) -> bool:
        """The built-in counting (same clock time, no cut-off): the fold's fast path."""
        return self.due_instant == "clock" and self.cut_off is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version,
            "province_code": self.province_code,
            "source": self.source,
            "effective_from": None if self.effective_from is None else self.effective_from.isoformat(),
            "office_open": self.hours.open.isoformat("minutes"),
            "office_close": self.hours.close.isoformat("minutes"),
            "break_start": None if self.hours.break_start is None else self.hours.break_start.isoformat("minutes"),
            "break_end": None if self.hours.break_end is None else self.hours.break_end.isoformat("minutes"),
            "cut_off": None if self.cut_off is None else self.cut_off.isoformat("minutes"),
            "due_instant": self.due_instant,
            "description": _DUE_INSTANT_TEXT[self.due_instant],
        }


_DUE_INSTANT_TEXT: dict[str, str] = {
    "clock": (
        "N ngày làm việc tính từ thời điểm tiếp nhận (giờ hành chính), hạn là cùng giờ của ngày làm việc thứ N; "
        "bỏ qua thứ Bảy, Chủ nhật, ngày lễ, Tết và ngày nghỉ do quản trị viên khai báo; dừng đồng hồ khi chờ bổ "
        "sung hồ sơ / N office days of working time from receipt, due at the same time of day N working days "
        "later, skipping weekends, public holidays (Tết included) and operator days off; the clock stops while "
        "a supplement is awaited"
    ),
    "end_of_day": (
        "Thời hạn bắt đầu từ ngày làm việc tiếp theo ngày tiếp nhận và kết thúc vào cuối giờ làm việc của ngày "
        "làm việc thứ N (Bộ luật Dân sự 2015, điều 147–148); bỏ qua ngày nghỉ; thời gian tạm dừng được cộng "
        "thêm rồi làm tròn đến cuối ngày làm việc / the period starts the day after receipt and ends at the "
        "close of its N-th working day (Civil Code 2015 art. 147–148), skipping days off; paused working time "
        "is added, then rounded up to the end of a working day"
    ),
}

BUILTIN_POLICY = DeadlinePolicy()


@dataclass(frozen=True)
class _NationalYear:
    """One year of the national calendar as plain sets (cheap membership tests)."""

    days_off: frozenset[date]
    worked_weekend_days: frozenset[date]


def _require_aware(t: datetime, name: str) -> None:
    if t.tzinfo is None or t.utcoffset() is None:
        raise CalendarError(f"{name} phải có múi giờ / {name} must be timezone-aware: {t!r}")


class WorkingCalendar:
    """Answers working-time questions for one set of overrides, office hours and time zone.

    Immutable after construction; the caches only memoise pure functions of the inputs, so one
    instance can be shared by every caller.
    """

    def __init__(
        self,
        overrides: CalendarOverrides = CalendarOverrides(),
        hours: OfficeHours | None = None,
        tz: str = "Asia/Ho_Chi_Minh",
        policy: DeadlinePolicy = BUILTIN_POLICY,
    ) -> None:
        if hours is not None and hours != policy.hours:
            policy = DeadlinePolicy(
                id=policy.id, version=policy.version, province_code=policy.province_code, source=policy.source,
                effective_from=policy.effective_from, hours=hours, cut_off=policy.cut_off,
                due_instant=policy.due_instant,
            )  # fmt: skip
        self._policy = policy
        self._plain = policy.plain
        self._overrides = overrides
        hours = policy.hours
        self._hours = hours
        self._tz = ZoneInfo(tz)
        self._seconds_per_day = hours.seconds_per_day
        # The break as (start, end, morning seconds, break seconds); None: one continuous span.
        self._break: tuple[time, time, int, int] | None = None
        if hours.break_start is not None and hours.break_end is not None:
            morning = datetime.combine(date.min, hours.break_start) - datetime.combine(date.min, hours.open)
            pause = datetime.combine(date.min, hours.break_end) - datetime.combine(date.min, hours.break_start)
            self._break = (hours.break_start, hours.break_end, int(morning // _ONE_SECOND), int(pause // _ONE_SECOND))
        self._national: dict[int, _NationalYear] = {}
        self._day_is_working: dict[date, bool] = {}
        # Per year, the sorted ordinals of its working days: lets "the n-th working day after d"
        # and "working days between a and b" be a bisect instead of a day-by-day walk.
        self._working_ordinals: dict[int, list[int]] = {}

    # ----------------------------------------------------------------- properties

    @property
    def overrides(self) -> CalendarOverrides:
        return self._overrides

    @property
    def policy(self) -> DeadlinePolicy:
        return self._policy

    @property
    def hours(self) -> OfficeHours:
        return self._hours

    @property
    def tz(self) -> ZoneInfo:
        return self._tz

    @property
    def seconds_per_working_day(self) -> int:
        return self._seconds_per_day

    # ----------------------------------------------------------------- days

    def is_working_day(self, d: date) -> bool:
        cached = self._day_is_working.get(d)
        if cached is None:
            cached = self._decide_working_day(d)
            self._day_is_working[d] = cached
        return cached

    def _decide_working_day(self, d: date) -> bool:
        if d in self._overrides.working_days:
            return True
        if d in self._overrides.days_off:
            return False
        if d in self._national_year(d.year).days_off:
            return False
        if d.weekday() >= _SATURDAY:
            # A swapped working weekend day can be recorded under a neighbouring year (e.g. the
            # 31/12/2018 day off was paid back on Saturday 5/1/2019), so look one year either side.
            return any(
                d in self._national_year(year).worked_weekend_days
                for year in (d.year - 1, d.year, d.year + 1)
                if date.min.year <= year <= date.max.year
            )
        return True

    def _national_year(self, year: int) -> _NationalYear:
        cached = self._national.get(year)
        if cached is None:
            source = country_holidays("VN", years=year)
            cached = _NationalYear(
                days_off=frozenset(source.keys()),
                worked_weekend_days=frozenset(source.weekend_workdays),
            )
            self._national[year] = cached
        return cached

    def _ordinals(self, year: int) -> list[int]:
        cached = self._working_ordinals.get(year)
        if cached is None:
            first = date(year, 1, 1).toordinal()
            last = date(year, 12, 31).toordinal()
            cached = [o for o in range(first, last + 1) if self.is_working_day(date.fromordinal(o))]
            self._working_ordinals[year] = cached
        return cached

    def _nth_working_day_after(self, d: date, n: int) -> date:
        """The n-th (n >= 1) working day strictly after ``d``."""
        ordinal, year = d.toordinal(), d.year
        while True:
            days = self._ordinals(year)
            i = bisect_right(days, ordinal)
            available = len(days) - i
            if n <= available:
                return date.fromordinal(days[i + n - 1])
            n -= available
            year += 1

    def _nth_working_day_before(self, d: date, n: int) -> date:
        """The n-th (n >= 1) working day strictly before ``d``."""
        ordinal, year = d.toordinal(), d.year
        while True:
            days = self._ordinals(year)
            i = bisect_left(days, ordinal)
            if n <= i:
                return date.fromordinal(days[i - n])
            n -= i
            year -= 1

    def _working_days_strictly_between(self, a: date, b: date) -> int:
        if b.toordinal() - a.toordinal() <= 1:
            return 0
        count = 0
        for year in range(a.year, b.year + 1):
            days = self._ordinals(year)
            count += bisect_left(days, b.toordinal()) - bisect_right(days, a.toordinal())
        return count

    # ----------------------------------------------------------------- instants (local, naive)

    def _to_local(self, t: datetime, name: str) -> datetime:
        _require_aware(t, name)
        return t.astimezone(self._tz).replace(tzinfo=None)

    def _to_aware(self, local: datetime) -> datetime:
        return local.replace(tzinfo=self._tz)

    def _opening(self, d: date) -> datetime:
        return datetime.combine(d, self._hours.open)

    def _closing(self, d: date) -> datetime:
        return datetime.combine(d, self._hours.close)

    def _clamp_forward(self, local: datetime) -> datetime:
        """Earliest working instant >= ``local``; working time is the span [open, close)."""
        d = local.date()
        if self.is_working_day(d) and local.time() < self._hours.close:
            t = max(local, self._opening(d))
            brk = self._break
            if brk is not None and brk[0] <= t.time() < brk[1]:
                return datetime.combine(d, brk[1])
            return t
        return self._opening(self._nth_working_day_after(d, 1))

    def _clamp_backward(self, local: datetime) -> datetime:
        """Latest working instant <= ``local``; the mirror span (open, close]."""
        d = local.date()
        if self.is_working_day(d) and local.time() > self._hours.open:
            t = min(local, self._closing(d))
            brk = self._break
            if brk is not None and brk[0] < t.time() <= brk[1]:
                return datetime.combine(d, brk[0])
            return t
        return self._closing(self._nth_working_day_before(d, 1))

    def _done(self, t: datetime) -> int:
        """Working seconds from the opening of ``t``'s day to ``t`` (a working instant of it)."""
        done = self._seconds(t - self._opening(t.date()))
        brk = self._break
        if brk is not None and t.time() > brk[0]:
            done -= min(brk[3], self._seconds(t - datetime.combine(t.date(), brk[0])))
        return done

    def _at(self, d: date, done: int, *, late: bool) -> datetime:
        """The instant of day ``d`` after ``done`` working seconds (0 < done < a day's). At the
        break, ``late`` picks its start (a deadline reached in the morning session stays there),
        otherwise its end (counting back, the afternoon session's first instant)."""
        at = self._opening(d) + timedelta(seconds=done)
        brk = self._break
        if brk is not None and (done > brk[2] or (done == brk[2] and not late)):
            at += timedelta(seconds=brk[3])
        return at

    def _seconds(self, span: timedelta) -> int:
        return int(span // _ONE_SECOND)

    # ----------------------------------------------------------------- public arithmetic

    def next_working_instant(self, t: datetime) -> datetime:
        """``t`` itself during office hours on a working day, else the next opening.

        Closing time itself is not a working instant: 17:00 on Friday moves to Monday's opening.
        """
        return self._to_aware(self._clamp_forward(self._to_local(t, "t")))

    def working_seconds_between(self, start: datetime, end: datetime) -> int:
        """Office-hours seconds on working days inside [start, end); 0 if ``end <= start``."""
        return self._between_local(self._to_local(start, "start"), self._to_local(end, "end"))

    def _between_local(self, start: datetime, end: datetime) -> int:
        s = self._clamp_forward(start)
        e = self._clamp_backward(end)
        if e <= s:
            return 0
        if self._break is not None:
            if s.date() == e.date():
                return self._done(e) - self._done(s)
            whole_days = self._working_days_strictly_between(s.date(), e.date())
            return self._seconds_per_day - self._done(s) + whole_days * self._seconds_per_day + self._done(e)
        if s.date() == e.date():
            return self._seconds(e - s)
        whole_days = self._working_days_strictly_between(s.date(), e.date())
        return (
            self._seconds(self._closing(s.date()) - s)
            + whole_days * self._seconds_per_day
            + self._seconds(e - self._opening(e.date()))
        )

    def add_working_seconds(self, start: datetime, seconds: int) -> datetime:
        """The instant ``seconds`` of working time after ``start``.

        The clock starts at ``next_working_instant(start)``; ``seconds == 0`` returns exactly that.
        A result landing on a closing time stays at that closing time.
        """
        if seconds < 0:
            raise CalendarError(f"seconds phải >= 0 / seconds must be >= 0: {seconds}")
        return self._to_aware(self._add_local(self._clamp_forward(self._to_local(start, "start")), seconds))

    def _add_local(self, cur: datetime, seconds: int) -> datetime:
        """``cur`` must already be a working instant (output of ``_clamp_forward``)."""
        if self._break is not None:
            return self._add_local_with_break(cur, seconds)
        left_today = self._seconds(self._closing(cur.date()) - cur)
        if seconds <= left_today:
            return cur + timedelta(seconds=seconds)
        full_days, part = divmod(seconds - left_today, self._seconds_per_day)
        if part == 0:
            return self._closing(self._nth_working_day_after(cur.date(), full_days))
        day = self._nth_working_day_after(cur.date(), full_days + 1)
        return self._opening(day) + timedelta(seconds=part)

    def _add_local_with_break(self, cur: datetime, seconds: int) -> datetime:
        if seconds == 0:
            return cur
        done = self._done(cur)
        if seconds <= self._seconds_per_day - done:
            return self._at(cur.date(), done + seconds, late=True)
        full_days, part = divmod(seconds - (self._seconds_per_day - done), self._seconds_per_day)
        if part == 0:
            return self._closing(self._nth_working_day_after(cur.date(), full_days))
        return self._at(self._nth_working_day_after(cur.date(), full_days + 1), part, late=True)

    def subtract_working_seconds(self, end: datetime, seconds: int) -> datetime:
        """The instant ``seconds`` of working time before ``end`` (inverse of ``add_working_seconds``).

        The clock runs back from the latest working instant <= ``end`` (a closing time when ``end``
        is outside office hours); a result landing on an opening time stays at that opening time.
        For ``seconds > 0``: ``add_working_seconds(subtract_working_seconds(e, s), s)`` is ``e``
        clamped backward, and ``subtract_working_seconds(add_working_seconds(t, s), s)`` is
        ``next_working_instant(t)``.
        """
        if seconds < 0:
            raise CalendarError(f"seconds phải >= 0 / seconds must be >= 0: {seconds}")
        cur = self._clamp_backward(self._to_local(end, "end"))
        if self._break is not None:
            return self._to_aware(self._subtract_local_with_break(cur, seconds))
        done_today = self._seconds(cur - self._opening(cur.date()))
        if seconds <= done_today:
            return self._to_aware(cur - timedelta(seconds=seconds))
        full_days, part = divmod(seconds - done_today, self._seconds_per_day)
        if part == 0:
            return self._to_aware(self._opening(self._nth_working_day_before(cur.date(), full_days)))
        day = self._nth_working_day_before(cur.date(), full_days + 1)
        return self._to_aware(self._closing(day) - timedelta(seconds=part))

    def _subtract_local_with_break(self, cur: datetime, seconds: int) -> datetime:
        if seconds == 0:
            return cur
        done = self._done(cur)
        if seconds <= done:
            return self._at(cur.date(), done - seconds, late=False)
        full_days, part = divmod(seconds - done, self._seconds_per_day)
        if part == 0:
            return self._opening(self._nth_working_day_before(cur.date(), full_days))
        return self._at(
            self._nth_working_day_before(cur.date(), full_days + 1), self._seconds_per_day - part, late=False
        )

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """``add_working_seconds(start, days * seconds_per_working_day)``."""
        if days < 0:
            raise CalendarError(f"days phải >= 0 / days must be >= 0: {days}")
        return self.add_working_seconds(start, days * self._seconds_per_day)

    def statutory_due(self, received_at: datetime, days: int, paused_seconds: int = 0) -> datetime:
        """The statutory deadline of a ``days``-working-day period received at ``received_at``,
        extended by ``paused_seconds`` of working time, counted by this calendar's policy.

        ``clock``: ``add_working_days`` from the (cut-off adjusted) start, then the pause.
        ``end_of_day``: the close of the ``days``-th working day after the receipt day (a receipt
        after the cut-off belongs to the next working day); a pause is added as working time from
        that close and the result rounded up to the end of its working day.
        ``days == 0`` under either: the close of the working day the receipt counts on.
        """
        if days < 0:
            raise CalendarError(f"days phải >= 0 / days must be >= 0: {days}")
        if paused_seconds < 0:
            raise CalendarError(f"paused_seconds phải >= 0 / paused_seconds must be >= 0: {paused_seconds}")
        local = self._to_local(received_at, "received_at")
        if self._plain and days:
            # The built-in policy: exactly the arithmetic the fold used before policies existed.
            due = self._add_local(self._clamp_forward(local), days * self._seconds_per_day)
            return self._to_aware(due if not paused_seconds else self._add_local(due, paused_seconds))
        if self._policy.due_instant == "clock":
            start = self._start_local(local)
            due = self._closing(start.date()) if days == 0 else self._add_local(start, days * self._seconds_per_day)
            if paused_seconds:
                due = self._add_local(self._clamp_forward(due), paused_seconds)
            return self._to_aware(due)
        day = self._receipt_day(local)
        if days == 0:
            today = self.is_working_day(day) and local < self._closing(day)
            last = day if today else self._nth_working_day_after(day, 1)
        else:
            last = self._nth_working_day_after(day, days)
        due = self._closing(last)
        if paused_seconds:
            # From a closing time _add_local moves into the following working days; the period
            # still ends at the end of a working day.
            due = self._closing(self._add_local(self._clamp_forward(due), paused_seconds).date())
        return self._to_aware(due)

    def counting_from(self, received_at: datetime) -> datetime:
        """When the period starts to run under this calendar's policy (for explanations)."""
        local = self._to_local(received_at, "received_at")
        if self._policy.due_instant == "clock":
            return self._to_aware(self._start_local(local))
        return self._to_aware(self._opening(self._nth_working_day_after(self._receipt_day(local), 1)))

    def _start_local(self, local: datetime) -> datetime:
        """The first working instant of a ``clock`` period: the next working instant, moved to the
        next opening when it falls at or after the cut-off."""
        start = self._clamp_forward(local)
        cut_off = self._policy.cut_off
        if cut_off is not None and start.time() >= cut_off:
            return self._opening(self._nth_working_day_after(start.date(), 1))
        return start

    def _receipt_day(self, local: datetime) -> date:
        """The day an ``end_of_day`` period counts from (day 0): the receipt's local date, or the
        next working day when received at or after the cut-off on a working day."""
        d = local.date()
        cut_off = self._policy.cut_off
        if cut_off is not None and self.is_working_day(d) and local.time() >= cut_off:
            return self._nth_working_day_after(d, 1)
        return d

    def due_at(
        self,
        received_at: datetime,
        working_days: int,
        pauses: Sequence[tuple[datetime, datetime | None]] = (),
    ) -> datetime | None:
        """Statutory deadline: ``received_at`` + ``working_days``, the clock stopped during pauses.

        Pauses may come in any order and may overlap (they are merged, so nothing counts twice);
        parts before ``received_at`` are ignored. The clock runs until the budget of working time
        is spent; a pause only extends the deadline if it starts before the deadline it would
        otherwise have, so a supplement requested after a dossier is already late cannot make it
        on time again. Returns ``None`` while a pause that started before the deadline is still
        open (``end is None``): the clock is stopped and no deadline applies right now.
        """
        if working_days < 0:
            raise CalendarError(f"working_days phải >= 0 / working_days must be >= 0: {working_days}")
        cur = self._clamp_forward(self._to_local(received_at, "received_at"))
        budget = working_days * self._seconds_per_day
        for pause_start, pause_end in self._merged_pauses(pauses):
            deadline = self._add_local(cur, budget)
            if deadline <= pause_start:
                return self._to_aware(deadline)
            if pause_start > cur:
                budget -= self._between_local(cur, pause_start)
            if pause_end is None:
                return None
            cur = max(cur, self._clamp_forward(pause_end))
        return self._to_aware(self._add_local(cur, budget))

    def _merged_pauses(
        self, pauses: Sequence[tuple[datetime, datetime | None]]
    ) -> list[tuple[datetime, datetime | None]]:
        """Pauses as sorted, non-overlapping local intervals; an open pause swallows all after it."""
        local: list[tuple[datetime, datetime | None]] = []
        for pause_start, pause_end in pauses:
            s = self._to_local(pause_start, "pause start")
            e = None if pause_end is None else self._to_local(pause_end, "pause end")
            if e is not None and e < s:
                raise CalendarError(
                    f"Khoảng tạm dừng bị ngược / pause ends before it starts: {pause_start!r} > {pause_end!r}"
                )
            local.append((s, e))
        local.sort(key=lambda p: p[0])
        merged: list[tuple[datetime, datetime | None]] = []
        for s, e in local:
            if merged:
                last_start, last_end = merged[-1]
                if last_end is None:
                    break
                if s <= last_end:
                    merged[-1] = (last_start, None if e is None else max(last_end, e))
                    continue
            merged.append((s, e))
        return merged
