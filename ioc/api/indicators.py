"""Indicators for the caller's scope: definitions, current values, history, rankings, the 766 scorecard.

Every answer counts in-scope rows only. A province or locality outside the scope (or unknown)
answers 404, as if it did not exist; a request the indicators cannot answer (too many buckets,
an agency ranking of a payout indicator) answers 422.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request

from ioc.api.deps import AppState, app_state
from ioc.api.guard import ensure_readable, guard, sees_province
from ioc.auth.policy import Action, Policy
from ioc.auth.principal import Principal
from ioc.indicators.buckets import LOCAL_TZ, Bucket
from ioc.indicators.definitions import INDICATORS
from ioc.indicators.history import HistoryError, NotInScope, history
from ioc.indicators.rankings import rankings
from ioc.indicators.scorecard_query import monthly_scorecards
from ioc.indicators.values import current_values_with_places

IndicatorsGlobal = Annotated[Principal, guard(Policy(Action.INDICATORS_READ, "global"))]
IndicatorsList = Annotated[Principal, guard(Policy(Action.INDICATORS_READ, "list"))]
IndicatorsRead = Annotated[Principal, guard(Policy(Action.INDICATORS_READ, "read"))]

ProvinceParam = Annotated[str | None, Query(max_length=2, pattern=r"^[0-9]{2}$")]
CodesParam = Annotated[
    str | None,
    Query(max_length=1000, pattern=r"^[a-z0-9_]{1,64}(,[a-z0-9_]{1,64})*$",
          description="mã chỉ số, cách nhau bởi dấu phẩy / comma-separated indicator codes"),
]  # fmt: skip
IndicatorPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")]
# ISO date or date-time (years 2000–2099: the range any IOC data can have); no offset = local time.
Instant = Annotated[
    str | None,
    Query(max_length=40, pattern=r"^20[0-9]{2}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?"
                                 r"(Z|[+-][0-9]{2}:[0-9]{2})?)?$"),
]  # fmt: skip
DayParam = Annotated[str | None, Query(max_length=10, pattern=r"^20[0-9]{2}-[0-9]{2}-[0-9]{2}$")]
MonthParam = Annotated[str | None, Query(max_length=7, pattern=r"^20[0-9]{2}-(0[1-9]|1[0-2])$")]
_ERRORS: dict[int | str, dict[str, Any]] = {404: {}, 422: {}}


def _instant(text: str | None, default: datetime) -> datetime:
    if text is None:
        return default
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise HTTPException(422, f"thời điểm không hợp lệ / invalid date or time {text!r}") from exc
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=LOCAL_TZ)


def _day(text: str | None, default: date) -> date:
    if text is None:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise HTTPException(422, f"ngày không hợp lệ / invalid date {text!r}") from exc


def _codes(text: str | None) -> list[str] | None:
    if text is None:
        return None
    codes = list(dict.fromkeys(text.split(",")))
    unknown = [c for c in codes if c not in INDICATORS]
    if unknown:
        raise HTTPException(422, f"chỉ số không tồn tại / unknown indicators: {', '.join(unknown)}")
    return codes


def _ensure_province(state: AppState, principal: Principal, province_code: str | None) -> None:
    if province_code is not None and not sees_province(state.catalogue, principal.scope, province_code):
        raise HTTPException(404, f"không tìm thấy tỉnh / unknown province {province_code!r}")


def _indicator(code: str) -> dict[str, Any]:
    indicator = INDICATORS.get(code)
    if indicator is None:
        raise HTTPException(404, f"chỉ số không tồn tại / unknown indicator {code!r}")
    return indicator.as_dict()


def indicators_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["indicators"])

    @router.get("/indicators", summary="Every indicator's definition (what is counted, window, unit)")
    async def definitions(principal: IndicatorsGlobal) -> dict[str, Any]:
        return {"indicators": [i.as_dict() for i in INDICATORS.values()]}

    @router.get("/indicators/current", responses=_ERRORS,
                summary="Current values per province, commune or agency in scope")  # fmt: skip
    async def current(
        request: Request,
        principal: IndicatorsList,
        level: Literal["province", "commune", "agency"] = "province",
        province_code: ProvinceParam = None,
        codes: CodesParam = None,
    ) -> dict[str, Any]:
        state = app_state(request)
        _ensure_province(state, principal, province_code)
        wanted = _codes(codes)
        now = datetime.now(UTC)
        async with state.pool.connection() as conn:
            listed, values = await current_values_with_places(conn, principal.scope, level, now, wanted,
                                                              province_code)  # fmt: skip
        shown = wanted if wanted is not None else list(INDICATORS)
        return {
            "generated_at": now.isoformat(),
            "level": level,
            "indicators": [INDICATORS[c].as_dict() for c in shown],
            "localities": [
                {"code": p.code, "name": p.name, "province_code": p.province_code, "values": values[p.code]}
                for p in listed
            ],
        }

    @router.get("/indicators/{code}/history", responses=_ERRORS,
                summary="One indicator for one province or commune over time, in buckets")  # fmt: skip
    async def indicator_history(
        request: Request,
        code: IndicatorPath,
        principal: IndicatorsRead,
        locality: Annotated[str, Query(max_length=5, pattern=r"^[0-9]{2}([0-9]{3})?$")],
        from_: Annotated[Instant, Query(alias="from")] = None,
        to: Instant = None,
        bucket: Bucket = "day",
    ) -> dict[str, Any]:
        definition = _indicator(code)
        state = app_state(request)
        known = state.catalogue.get(locality)
        ensure_readable(principal, known is not None, f"locality {locality}")
        now = datetime.now(UTC)
        end = _instant(to, now)
        start = _instant(from_, end - timedelta(days=1 if bucket == "hour" else 30))
        try:
            async with state.pool.connection() as conn:
                series = await history(conn, principal.scope, code, locality, start, end, bucket, now=now)
        except NotInScope:
            ensure_readable(principal, False, f"locality {locality}")
            raise  # unreachable: ensure_readable raised
        except HistoryError as exc:
            raise HTTPException(422, str(exc)) from exc
        assert known is not None
        return {
            "indicator": definition,
            "locality": {"code": known.code, "name": known.name, "level": known.level},
            "bucket": bucket,
            "from": start.isoformat(),
            "to": end.isoformat(),
            "points": [{"start": b.isoformat(), "value": v} for b, v in series],
        }

    @router.get("/indicators/{code}/rankings", responses=_ERRORS,
                summary="Best and worst places on one indicator for a week or month, with the change")  # fmt: skip
    async def indicator_rankings(
        request: Request,
        code: IndicatorPath,
        principal: IndicatorsList,
        level: Literal["province", "commune", "agency"] = "province",
        period: Literal["week", "month"] = "month",
        at: DayParam = None,
        province_code: ProvinceParam = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 5,
    ) -> dict[str, Any]:
        definition = _indicator(code)
        state = app_state(request)
        _ensure_province(state, principal, province_code)
        now = datetime.now(UTC)
        day = _day(at, now.astimezone(LOCAL_TZ).date())
        try:
            async with state.pool.connection() as conn:
                ranking = await rankings(conn, principal.scope, code, level, period, day, now, province_code)
        except HistoryError as exc:
            raise HTTPException(422, str(exc)) from exc
        return {
            "indicator": definition,
            "level": level,
            "period": period,
            "start": ranking.start.isoformat(),
            "end": ranking.end.isoformat(),
            "previous_start": ranking.previous_start.isoformat(),
            "ranked": len(ranking.ranked),
            "unranked": ranking.unranked,
            "best": ranking.best(limit),
            "worst": ranking.worst(limit),
        }

    @router.get("/scorecard/766", responses=_ERRORS,
                summary="Decision 766 scorecard for a month, per province, commune or agency in scope")  # fmt: skip
    async def scorecard(
        request: Request,
        principal: IndicatorsList,
        level: Literal["province", "commune", "agency"] = "province",
        period: MonthParam = None,
        province_code: ProvinceParam = None,
    ) -> dict[str, Any]:
        state = app_state(request)
        _ensure_province(state, principal, province_code)
        now = datetime.now(UTC)
        month = _day(f"{period}-01", now.date()) if period else now.astimezone(LOCAL_TZ).date().replace(day=1)
        async with state.pool.connection() as conn:
            start, end, cards = await monthly_scorecards(conn, principal.scope, level, month, now, province_code)
        return {
            "level": level,
            "period": f"{month:%Y-%m}",
            "start": start.isoformat(),
            "end": end.isoformat(),
            "note_vi": "Trọng số theo cấu hình; cần đối chiếu với văn bản Quyết định 766/QĐ-TTg.",
            "note_en": "Weights are configuration; check them against the text of Decision 766/QĐ-TTg.",
            "scorecards": [c.as_dict() for c in cards],
        }

    return router
