-- Who owns a dossier code (ingest/ownership.py): the source whose `received` event registered
-- it first, and the locality it was registered at. Written by the writer in the same transaction
-- as the events (stage one), so ownership holds before any projection and under concurrent
-- batches: the primary key makes the first registration win, and a later batch reads it back.
-- Every later event for the code must come from a source whose scope covers this locality and
-- must place the dossier here; the projector folds only such events.
CREATE TABLE dossier_owner (
    code           text PRIMARY KEY,
    source_id      text NOT NULL,
    province_code  text NOT NULL,
    commune_code   text,
    registered_at  timestamptz NOT NULL DEFAULT now()
);

-- Dossiers registered before this table existed keep the locality their state has.
INSERT INTO dossier_owner (code, source_id, province_code, commune_code, registered_at)
SELECT code, source_id, province_code, commune_code, received_at FROM dossier;
