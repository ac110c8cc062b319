"""Keeping the `locality` table equal to the catalogue shipped in `vietnamadminunits`."""

from __future__ import annotations

import psycopg

from ioc.localities.catalogue import LocalityCatalogue

COUNT_LOCALITIES = "SELECT count(*) FROM locality"
UPSERT_LOCALITIES = """
INSERT INTO locality (code, level, name, short_name, kind, province_code, lat, lon, area_km2)
SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],
                     %s::float8[], %s::float8[], %s::float8[])
ON CONFLICT (code) DO UPDATE SET level = EXCLUDED.level, name = EXCLUDED.name,
    short_name = EXCLUDED.short_name, kind = EXCLUDED.kind, province_code = EXCLUDED.province_code,
    lat = EXCLUDED.lat, lon = EXCLUDED.lon, area_km2 = EXCLUDED.area_km2
"""


def sync_localities(url: str, catalogue: LocalityCatalogue) -> int:
    """Load the units once; a package upgrade that changes the count loads them again."""
    units = [*catalogue.provinces, *catalogue.communes]
    with psycopg.connect(url) as conn:
        row = conn.execute(COUNT_LOCALITIES).fetchone()
        if row is not None and row[0] == len(units):
            return 0
        columns = ("code", "level", "name", "short_name", "kind", "province_code", "lat", "lon", "area_km2")
        conn.execute(UPSERT_LOCALITIES, [[getattr(u, c) for u in units] for c in columns])
        return len(units)
