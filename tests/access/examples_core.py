"""Matrix examples for the routes of the foundation and access issues."""

from __future__ import annotations

from tests.access.matrix_support import (
    IN_PROVINCE,
    Call,
    Example,
    alerts_leak,
    dossier,
    dossiers_leak,
    ingest,
    next_id,
    override,
    province,
    provinces_leak,
    scope_body,
    victim_display,
    victim_key,
    victim_source,
    victim_user,
)
from tests.auth_support import TEST_PASSWORD

# fmt: off
EXAMPLES: dict[tuple[str, str], Example] = {
    ("GET", "/api/v1/auth/me"): Example(lambda w, v: Call("/api/v1/auth/me")),
    ("POST", "/api/v1/auth/logout"): Example(lambda w, v: Call("/api/v1/auth/logout"), spends_credential=True),
    ("POST", "/api/v1/auth/password"): Example(
        lambda w, v: Call(
            "/api/v1/auth/password", json={"current_password": TEST_PASSWORD, "new_password": "mật-khẩu-mới-dài-hơn"}
        ),
        spends_credential=True,
    ),
    ("GET", "/api/v1/admin/users"): Example(lambda w, v: Call("/api/v1/admin/users")),
    ("POST", "/api/v1/admin/users"): Example(
        lambda w, v: Call(
            "/api/v1/admin/users",
            json={
                "username": f"new-{next_id()}",
                "display_name": "Cán bộ mới",
                "password": "một-mật-khẩu-dài",
                "role": "operator",
                "scope": scope_body(w, v),
            },
        )
    ),
    ("GET", "/api/v1/admin/users/{user_id}"): Example(lambda w, v: Call(f"/api/v1/admin/users/{victim_user(w)}")),
    ("PATCH", "/api/v1/admin/users/{user_id}"): Example(
        lambda w, v: Call(f"/api/v1/admin/users/{victim_user(w)}", json={"disabled": True})
    ),
    ("GET", "/api/v1/admin/displays"): Example(lambda w, v: Call("/api/v1/admin/displays")),
    ("POST", "/api/v1/admin/displays"): Example(
        lambda w, v: Call("/api/v1/admin/displays", json={"screen_name": "Phòng họp", "scope": scope_body(w, v)})
    ),
    ("DELETE", "/api/v1/admin/displays/{display_id}"): Example(
        lambda w, v: Call(f"/api/v1/admin/displays/{victim_display(w)}")
    ),
    ("GET", "/api/v1/admin/sources"): Example(lambda w, v: Call("/api/v1/admin/sources")),
    ("POST", "/api/v1/admin/sources"): Example(
        lambda w, v: Call(
            "/api/v1/admin/sources", json={"id": f"src-{next_id()}", "name": "Nguồn mới", "scope": scope_body(w, v)}
        )
    ),
    ("GET", "/api/v1/admin/sources/{source_id}"): Example(
        lambda w, v: Call(f"/api/v1/admin/sources/{victim_source(w)}")
    ),
    ("DELETE", "/api/v1/admin/sources/{source_id}"): Example(
        lambda w, v: Call(f"/api/v1/admin/sources/{victim_source(w)}")
    ),
    ("POST", "/api/v1/admin/sources/{source_id}/keys"): Example(
        lambda w, v: Call(f"/api/v1/admin/sources/{victim_source(w)}/keys", json={"grace_hours": 1})
    ),
    ("POST", "/api/v1/admin/sources/{source_id}/keys/finish-rotation"): Example(
        lambda w, v: Call(f"/api/v1/admin/sources/{victim_source(w)}/keys/finish-rotation")
    ),
    ("DELETE", "/api/v1/admin/sources/{source_id}/keys/{key_id}"): Example(lambda w, v: Call(victim_key(w))),
    ("GET", "/api/v1/admin/audit"): Example(lambda w, v: Call("/api/v1/admin/audit")),
    ("POST", "/api/v1/ingest/dossier-events"): Example(ingest),
    ("GET", "/api/v1/status/provinces"): Example(
        lambda w, v: Call("/api/v1/status/provinces"), leaked=provinces_leak
    ),
    ("GET", "/api/v1/status/provinces/{province_code}/communes"): Example(
        lambda w, v: Call(f"/api/v1/status/provinces/{province(v)}/communes"),
        out_status=404,
        leaked=lambda w, body: any(not c["code"] or c["province_code"] != IN_PROVINCE for c in body["communes"]),
    ),
    ("GET", "/api/v1/alerts"): Example(
        lambda w, v: Call("/api/v1/alerts", params={"province_code": province(v)}), leaked=alerts_leak
    ),
    ("GET", "/api/v1/alerts/{alert_id}"): Example(
        lambda w, v: Call(f"/api/v1/alerts/{w.alert_in if v == 'in' else w.alert_out}")
    ),
    ("POST", "/api/v1/alerts/{alert_id}/ack"): Example(
        lambda w, v: Call(
            f"/api/v1/alerts/{w.alert_in if v == 'in' else w.alert_out}/ack",
            json={"comment": "Đã nắm thông tin, đang xử lý"},
        )
    ),
    ("GET", "/api/v1/dossiers"): Example(
        lambda w, v: Call("/api/v1/dossiers", params={"province_code": province(v)}), leaked=dossiers_leak
    ),
    ("GET", "/api/v1/dossiers/{code}"): Example(lambda w, v: Call(f"/api/v1/dossiers/{dossier(v)}")),
    ("GET", "/api/v1/exports/overdue-dossiers.csv"): Example(
        lambda w, v: Call("/api/v1/exports/overdue-dossiers.csv", params={"province_code": province(v)}),
        leaked=dossiers_leak,
    ),
    ("GET", "/api/v1/calendar/overrides"): Example(lambda w, v: Call("/api/v1/calendar/overrides")),
    ("PUT", "/api/v1/calendar/overrides"): Example(
        lambda w, v: Call(
            "/api/v1/calendar/overrides",
            json={"day": "2031-05-02", "kind": "day_off", "province_code": province(v), "note": "Nghỉ bù"},
        )
    ),
    ("DELETE", "/api/v1/calendar/overrides/{day}"): Example(lambda w, v: Call(override(w))),
}
# fmt: on
