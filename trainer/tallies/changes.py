"""The queue of units whose compliance tallies are stale (`compliance_changes`, see
`trainer.reports.models`). People and certificate changes append to it inside their own
transaction; the compliance report recounts the queued units before it next reads
(`trainer.reports.compliance.refresh`)."""

from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.orm import Session as DbSession

from trainer.reports.models import ComplianceChange


def mark_changed(db: DbSession, *unit_ids: int | None) -> None:
    """Queue units whose inspectors or certificates changed in this transaction. An insert only,
    so thousands of exam gradings at once never queue behind one shared row."""
    rows = [{"unit_id": unit_id} for unit_id in sorted({u for u in unit_ids if u is not None})]
    if rows:
        db.execute(insert(ComplianceChange), rows)
