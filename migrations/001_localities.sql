-- Vietnam's administrative units since 1 July 2025: 34 provinces and 3,321 communes.
-- Rows are loaded at start-up from the vietnamadminunits package (see ioc/localities/store.py).
CREATE TABLE locality (
    code          text PRIMARY KEY,
    level         text NOT NULL CHECK (level IN ('province', 'commune')),
    name          text NOT NULL,
    short_name    text NOT NULL,
    kind          text NOT NULL,
    province_code text NOT NULL,
    lat           double precision NOT NULL,
    lon           double precision NOT NULL,
    area_km2      double precision
);
CREATE INDEX locality_province_idx ON locality (province_code, level);
