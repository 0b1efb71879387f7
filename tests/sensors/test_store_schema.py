"""The database a user opens with DuckDB is the one the docs describe, column for column."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from twin.sensors.store import Store

DOCS = Path(__file__).resolve().parents[2] / "docs" / "sensors.md"

#: The interface outside checks rely on (issue 3): these tables and columns must exist.
REQUIRED = {
    "readings": {"device", "time", "quantity", "value", "unit"},
    "events": set(),
    "dead_letters": set(),
    "devices": set(),
    "raw_messages": set(),
}


def documented_tables() -> dict[str, list[str]]:
    """Parse the table of tables in docs/sensors.md: name → columns in their documented order."""
    tables = {}
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^\| `(\w+)` \| [^|]+ \| (.+) \|$", line)
        if m and m.group(2).startswith("`"):
            # columns are the back-quoted names outside parentheses
            columns = re.sub(r"\([^)]*\)", "", m.group(2))
            tables[m.group(1)] = re.findall(r"`(\w+)`", columns)
    return tables


def test_docs_describe_every_table_and_column_in_order(tmp_path):
    documented = documented_tables()
    assert set(documented) >= {"devices", "readings", "latest", "raw_messages", "events"}
    path = tmp_path / "schema.duckdb"
    Store(path).close()
    con = duckdb.connect(str(path), read_only=True)
    try:
        real = {}
        for table, column in con.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position"
        ).fetchall():
            real.setdefault(table, []).append(column)
    finally:
        con.close()
    assert real == documented
    for table, columns in REQUIRED.items():
        assert columns <= set(real[table]), table
