"""Matrix examples for the deadline-policy routes (ioc/api/calendar.py, issue #12 item 5).

The PUT bodies restate the built-in counting (clock, 08:00–17:00, no cut-off), so a new version
written by the matrix leaves every deadline the other examples rely on unchanged.
"""

from __future__ import annotations

from tests.access.matrix_support import Call, Example, province

BUILTIN_BODY = {"office_open": "08:00", "office_close": "17:00", "cut_off": None, "due_instant": "clock"}

# fmt: off
EXAMPLES: dict[tuple[str, str], Example] = {
    ("GET", "/api/v1/calendar/policy"): Example(lambda w, v: Call("/api/v1/calendar/policy")),
    ("PUT", "/api/v1/calendar/policy"): Example(
        lambda w, v: Call("/api/v1/calendar/policy", json={**BUILTIN_BODY, "note": "Mặc định toàn quốc"})
    ),
    ("GET", "/api/v1/calendar/policy/{province_code}"): Example(
        lambda w, v: Call(f"/api/v1/calendar/policy/{province(v)}")
    ),
    ("PUT", "/api/v1/calendar/policy/{province_code}"): Example(
        lambda w, v: Call(f"/api/v1/calendar/policy/{province(v)}", json={**BUILTIN_BODY, "note": "Theo tỉnh"})
    ),
}
# fmt: on
