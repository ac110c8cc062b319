-- Dossiers with stored events but no state yet: their receipt has not arrived (or named a
-- procedure the catalogue did not know). When later events come, only these — not every new
-- dossier — need their history read back from the event log.
CREATE TABLE dossier_orphan (
    dossier_code  text PRIMARY KEY,
    since         timestamptz NOT NULL DEFAULT now()
);
