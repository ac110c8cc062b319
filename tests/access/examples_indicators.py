"""Matrix examples for the indicator routes: definitions, current values, history, rankings, 766."""

from __future__ import annotations

from typing import Any

from ioc.localities.catalogue import load_catalogue
from tests.access.matrix_support import IN_PROVINCE, Call, Example, World, province


def _outside(code: str) -> bool:
    """A province or commune code that is not Hà Nội or one of its communes."""
    place = load_catalogue().get(code)
    return place is None or place.province_code != IN_PROVINCE


def localities_leak(w: World, body: Any) -> bool:
    return any(_outside(item["code"]) for item in body["localities"])


def rankings_leak(w: World, body: Any) -> bool:
    return any(_outside(item["code"]) for item in (*body["best"], *body["worst"]))


def scorecards_leak(w: World, body: Any) -> bool:
    return any(_outside(item["code"]) for item in body["scorecards"])


# fmt: off
EXAMPLES: dict[tuple[str, str], Example] = {
    ("GET", "/api/v1/indicators"): Example(lambda w, v: Call("/api/v1/indicators")),
    ("GET", "/api/v1/indicators/current"): Example(
        lambda w, v: Call("/api/v1/indicators/current", params={"level": "commune", "province_code": province(v)}),
        out_status=404, leaked=localities_leak,
    ),
    ("GET", "/api/v1/indicators/{code}/history"): Example(
        lambda w, v: Call("/api/v1/indicators/online_submission_share/history",
                          params={"locality": province(v), "bucket": "day"}),
    ),
    ("GET", "/api/v1/indicators/{code}/rankings"): Example(
        lambda w, v: Call("/api/v1/indicators/online_submission_share/rankings",
                          params={"level": "commune", "province_code": province(v), "limit": "50"}),
        out_status=404, leaked=rankings_leak,
    ),
    ("GET", "/api/v1/scorecard/766"): Example(
        lambda w, v: Call("/api/v1/scorecard/766", params={"level": "commune", "province_code": province(v)}),
        out_status=404, leaked=scorecards_leak,
    ),
}
# fmt: on
