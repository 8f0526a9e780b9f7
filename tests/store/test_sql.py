"""tlo_embed/store/sql.py: small typed row helpers."""

from __future__ import annotations

import apsw

from tlo_embed.store import sql


def test_rows_and_value() -> None:
    """rows() returns every row; value() the first column of the first row, or None."""
    conn = apsw.Connection(":memory:")
    try:
        conn.execute("CREATE TABLE t (a, b); INSERT INTO t VALUES (1, 'x'), (2, 'y')")
        assert sql.rows(conn, "SELECT a, b FROM t ORDER BY a") == [(1, "x"), (2, "y")]
        assert sql.rows(conn, "SELECT a FROM t WHERE b = ?", ["y"]) == [(2,)]
        assert sql.value(conn, "SELECT max(a) FROM t") == 2
        assert sql.value(conn, "SELECT a FROM t WHERE a > ?", (5,)) is None
    finally:
        conn.close()
