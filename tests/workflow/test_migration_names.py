"""A database migrated under the numbers a migration had before it was
renumbered takes the renumbered file without failing.

``migrate`` knows a migration by its file name. The batch claims and the
correction rows' writer were numbered 15 and 16 on their branch before main
took 15: a database a worker of that branch migrated has them under the old
names, and the renumbered files (16 and 17) run there once more.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from activities.db import MIGRATIONS, create_pool, migrate
from certflow.config import Settings
from tests.support import throwaway_database

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(60)]

# The renumbered migrations, by the names a database may have applied them under.
RENAMED = {
    "016_batch_claims.sql": "015_batch_claims.sql",
    "017_correction_recorded_by.sql": "016_correction_recorded_by.sql",
}


async def test_migrations_applied_under_their_earlier_numbers_run_again_cleanly(
    settings: Settings, tmp_path: Path
) -> None:
    earlier = tmp_path / "migrations"
    earlier.mkdir()
    for sql in sorted(MIGRATIONS.glob("*.sql")):
        number = int(sql.name.split("_", 1)[0])
        if number < 15 or sql.name in RENAMED:
            name = RENAMED.get(sql.name, sql.name)
            (earlier / name).write_bytes(sql.read_bytes())
    async with throwaway_database(
        settings.database_url, "certflow_renumbered", tmp_path
    ) as url:
        pool = await create_pool(url)
        try:
            await migrate(pool, earlier)
            applied = await migrate(pool)
            columns = await pool.fetch(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_name = 'correction_requests'"
                " AND column_name IN ('recorded_by', 'scheduled_at')"
            )
            claims = await pool.fetchval("SELECT to_regclass('batch_claims')")
        finally:
            await pool.close()

    # Those numbered since run once, as on any database.
    since = sorted(m.name for m in MIGRATIONS.glob("*.sql") if m.name > "018")
    assert applied == [
        "015_invoice_values.sql",
        "016_batch_claims.sql",
        "017_correction_recorded_by.sql",
        *since,
    ]
    assert len(columns) == 2
    assert claims is not None
