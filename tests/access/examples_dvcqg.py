"""Matrix examples for the portal-format routes (ioc/api/dvcqg.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.access.matrix_support import Call, Example, World, next_id
from tests.unit.dvcqg_payloads import envelope, td_dossier

# A unit in the granted province (Hà Nội, a ward of it) and one outside it (TP Hồ Chí Minh).
UNITS = {"in": ("MX-DVCQG-HN", "01", "00004"), "out": ("MX-DVCQG-HCM", "79", "25747")}


def _units_for_every_source(w: World) -> None:
    """The sources the matrix signs in with are made on the fly: map the two units for all of them."""
    for key, province, commune in UNITS.values():
        w.sql("INSERT INTO dvcqg_unit (source_id, unit_key, province_code, commune_code) SELECT id, %s, %s, %s"
              " FROM source ON CONFLICT DO NOTHING RETURNING 1", [key, province, commune])  # fmt: skip


def _dossier(w: World, variant: str) -> tuple[str, list[dict[str, object]]]:
    _units_for_every_source(w)
    unit = UNITS[variant][0]
    received = datetime.now(UTC) - timedelta(days=1)
    return unit, [td_dossier(f"MX-DVCQG-{next_id()}", "2", received, agency=unit)]


def sync(w: World, variant: str) -> Call:
    unit, data = _dossier(w, variant)
    return Call("/api/v1/dvcqg", json=envelope("DongBoHoSoMC", data, unit=unit))


def sync_bare(w: World, variant: str) -> Call:
    unit, data = _dossier(w, variant)
    return Call("/api/v1/dvcqg/DongBoHoSoMC", json=data, params={"MaDinhDanhDV": unit, "isUpdating": "False"})


UNIT_TABLE = {"units": [{"key": "MX-DVCQG-ADMIN", "commune_code": "00004"}]}

# fmt: off
EXAMPLES: dict[tuple[str, str], Example] = {
    # A source's key as Bearer gets a session; the portal's username/password body is the other way in.
    ("POST", "/api/v1/dvcqg/login"): Example(lambda w, v: Call("/api/v1/dvcqg/login", json={})),
    ("POST", "/api/v1/dvcqg"): Example(sync),
    ("POST", "/api/v1/dvcqg/{service}"): Example(sync_bare),
    ("GET", "/api/v1/admin/dvcqg/units/{source_id}"): Example(
        lambda w, v: Call("/api/v1/admin/dvcqg/units/test-source")
    ),
    ("PUT", "/api/v1/admin/dvcqg/units/{source_id}"): Example(
        lambda w, v: Call("/api/v1/admin/dvcqg/units/test-source", json=UNIT_TABLE)
    ),
}
# fmt: on
