"""Merge the daily rollup's pending delta rows into one row per key (migrations/024).

The projector appends each batch's rollup change as pending rows; readers sum whatever rows a key
has, so merging changes no answer, only how many rows a reader reads. One compaction at a time
(a transaction-level advisory lock; a second caller just returns), one statement: the pending
rows it saw are deleted and their sums added to the key's merged row, or become that row. Rows
appended meanwhile are left for the next run.
"""

from __future__ import annotations

from ingest.lifecycle import ROLLUP_FIELDS, ROLLUP_KEY
from ioc.db.pool import Conn

_COLUMNS = ", ".join((*ROLLUP_KEY, *ROLLUP_FIELDS))
_KEY = ", ".join(ROLLUP_KEY)
_SAME_KEY = " AND ".join(f"{{a}}.{k} = {{b}}.{k}" for k in ROLLUP_KEY)
COMPACT_ROLLUP = f"""
WITH moved AS (
    DELETE FROM dossier_daily WHERE pending RETURNING {_COLUMNS}
), sums AS (
    SELECT {_KEY}, {", ".join(f"sum({f}) AS {f}" for f in ROLLUP_FIELDS)}
    FROM moved GROUP BY {_KEY}
    HAVING {" OR ".join(f"sum({f}) <> 0" for f in ROLLUP_FIELDS)}
), merged AS (
    UPDATE dossier_daily d SET {", ".join(f"{f} = d.{f} + s.{f}" for f in ROLLUP_FIELDS)}
    FROM sums s WHERE {_SAME_KEY.format(a="d", b="s")} AND NOT d.pending
    RETURNING {", ".join(f"d.{k}" for k in ROLLUP_KEY)}
)
INSERT INTO dossier_daily ({_COLUMNS})
SELECT {", ".join(f"s.{c}" for c in (*ROLLUP_KEY, *ROLLUP_FIELDS))} FROM sums s
WHERE NOT EXISTS (SELECT 1 FROM merged m WHERE {_SAME_KEY.format(a="m", b="s")})
"""
COMPACTION_LOCK_KEY = 7_311_042_024  # the project's advisory keys: 7_311_042_ + the migration number
TRY_LOCK = "SELECT pg_try_advisory_xact_lock(%s)"


async def compact_rollup(conn: Conn) -> bool:
    """Run one compaction in its own transaction (`conn` must not be in one); False when another
    was already running."""
    async with conn.transaction():
        cur = await conn.execute(TRY_LOCK, [COMPACTION_LOCK_KEY])
        row = await cur.fetchone()
        if not (row and row[0]):
            return False
        await conn.execute(COMPACT_ROLLUP)
    return True
