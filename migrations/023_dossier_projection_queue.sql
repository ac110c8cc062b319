-- The dossier writer commits a batch's events in one transaction and applies them to the
-- dossier state and the daily rollup in a second (ingest/projector.py). Each batch leaves one row
-- here, in the first transaction, naming the dossiers it touched; the second deletes it. A row
-- that outlives its request (a crash between the two, or a batch acknowledged once stored,
-- `?ack=stored`) is picked up by the projector loop, which refolds those dossiers from the log.
-- One row per batch, not per dossier: the codes travel as one array, so queueing costs the
-- writer one small insert whatever the batch size.
CREATE TABLE dossier_projection_queue (
    id             bigserial PRIMARY KEY,
    source_id      text NOT NULL,
    dossier_codes  text[] NOT NULL,
    deferred       boolean NOT NULL,  -- acknowledged before projection: project at once
    queued_at      timestamptz NOT NULL DEFAULT now()
);
