"""Which `StreamIngester` takes each stream's items: the push API, file import and connectors
look the stream up here, so an item means the same whichever door it came in by."""

from __future__ import annotations

from ingest.batch import StreamIngester
from ingest.id_issuance import ID_ISSUANCE
from ingest.payout import PayoutIngester

STREAM_INGESTERS: dict[str, StreamIngester] = {
    "payout": PayoutIngester(),
    "id_issuance": ID_ISSUANCE,
}
