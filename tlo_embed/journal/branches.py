"""Branch lineage: which turns make up a branch's history.

A branch's history is its own turns up to its head, then its parent's turns up to the fork
point, recursively. Reads take a lineage, a list of (branch, highest seq) segments, and select
events from the union of those segments. The fork/switch/rewind commands build on this.
"""

from __future__ import annotations

from typing import Final

import apsw

from tlo_embed.errors import NotFoundError
from tlo_embed.store import sql

#: The branch every file starts with.
MAIN: Final = "main"

#: "No upper bound" for a segment's highest seq.
UNBOUNDED: Final = (1 << 62)

Lineage = list[tuple[str, int]]


def lineage(conn: apsw.Connection, branch: str, upto: int = UNBOUNDED) -> Lineage:
    """The segments of `branch`'s history, newest first, seen as of seq `upto`.

    Raises:
        NotFoundError: the branch does not exist.
    """
    segments: Lineage = []
    name: str | None = branch
    bound = upto
    while name is not None:
        rows = sql.rows(conn, "SELECT parent, fork_seq FROM branches WHERE name = ?", (name,))
        if not rows:
            msg = f"branch {name!r} does not exist"
            raise NotFoundError(msg)
        segments.append((name, bound))
        parent = rows[0][0]
        name = None if parent is None else str(parent)
        bound = min(bound, int(rows[0][1]))
    return segments


def lineage_clause(
    segments: Lineage, alias: str = "e", *, scan_in_seq_order: bool = False
) -> tuple[str, tuple[object, ...]]:
    """SQL restricting `alias.branch`/`alias.seq` to the segments, with its bindings.

    With `scan_in_seq_order`, the branch test is written `+branch` so SQLite cannot pick a
    branch-leading index over the (seq, idx) primary key: a whole-journal read must walk the
    key in order, not sort the branch's events for every page.

    Branch names are bound through `sql.TEXT_PARAM`: with a bare `?`, SQLite re-planned the
    ordered reads using this clause on every execution.
    """
    column = f"+{alias}.branch" if scan_in_seq_order else f"{alias}.branch"
    if len(segments) == 1:
        name, bound = segments[0]
        return f"{column} = {sql.TEXT_PARAM} AND {alias}.seq <= ?", (name, bound)
    parts: list[str] = []
    bindings: list[object] = []
    for name, bound in segments:
        parts.append(f"({column} = {sql.TEXT_PARAM} AND {alias}.seq <= ?)")
        bindings.append(name)
        bindings.append(bound)
    return "(" + " OR ".join(parts) + ")", tuple(bindings)


def contains(segments: Lineage, branch: str, seq: int) -> bool:
    """True when the turn (branch, seq) is part of the history the segments describe."""
    for name, bound in segments:
        if name == branch and seq <= bound:
            return True
    return False


def head(conn: apsw.Connection, branch: str) -> int:
    """The seq of the branch's newest turn (its fork point if it has none of its own)."""
    rows = sql.rows(conn, "SELECT head_seq, fork_seq FROM branches WHERE name = ?", (branch,))
    if not rows:
        msg = f"branch {branch!r} does not exist"
        raise NotFoundError(msg)
    return max(int(rows[0][0]), int(rows[0][1]))
