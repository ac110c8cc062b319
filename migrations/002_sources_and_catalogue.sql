-- Data sources push with a per-source API key; only its SHA-256 is stored.
CREATE TABLE source (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    key_sha256  text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

-- Freshness of each feed: every number on a screen carries the age of its source.
CREATE TABLE feed_freshness (
    source_id      text NOT NULL REFERENCES source (id),
    stream         text NOT NULL,
    last_event_at  timestamptz NOT NULL,
    last_ingest_at timestamptz NOT NULL,
    PRIMARY KEY (source_id, stream)
);

-- Administrative procedures (TTHC) with their statutory processing time in working days.
CREATE TABLE procedure (
    code            text PRIMARY KEY,
    name            text NOT NULL,
    sector          text NOT NULL,
    statutory_days  integer NOT NULL CHECK (statutory_days BETWEEN 0 AND 365),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE agency (
    code           text PRIMARY KEY,
    name           text NOT NULL,
    province_code  text NOT NULL REFERENCES locality (code),
    commune_code   text REFERENCES locality (code),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Operator overrides of the working-day calendar: extra days off (national or one province)
-- and swapped working days (a Saturday worked in exchange for a bridge day off).
CREATE TABLE calendar_override (
    day            date NOT NULL,
    province_code  text NOT NULL DEFAULT '' ,  -- '' = the whole country
    kind           text NOT NULL CHECK (kind IN ('day_off', 'working_day')),
    note           text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (day, province_code)
);
