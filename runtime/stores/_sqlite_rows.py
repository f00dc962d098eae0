"""Rows of the SQLite store: a run's row as a :class:`~runtime.stores.RunRecord`, a new file.

Kept apart from :mod:`runtime.stores.sqlite` so the store's module holds its transactions.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ..events import ErrorInfo
from ._codec import decode_value
from .base import RunRecord, from_us

__all__ = ["create_private", "new_record", "record"]


def _opt_dt(us: int | None) -> datetime | None:
    return None if us is None else from_us(us)


def record(row: Sequence[Any]) -> RunRecord:
    return RunRecord(
        run_id=row[0],
        workflow_name=row[1],
        graph_hash=row[2],
        input=decode_value(row[3]),
        status=row[4],
        result=decode_value(row[5]),
        error=None if row[6] is None else ErrorInfo.model_validate_json(row[6]),
        created_at=from_us(row[7]),
        updated_at=max(from_us(row[8]), datetime.fromisoformat(row[19])),
        started_at=_opt_dt(row[9]),
        finished_at=_opt_dt(row[10]),
        wake_at=_opt_dt(row[11]),
        wait_signals=tuple(json.loads(row[12])),
        cancel_requested=bool(row[13]),
        lease_owner=row[14],
        lease_epoch=row[15],
        lease_expires_at=_opt_dt(row[16]),
        recoveries=row[17],
        last_seq=row[18],
        quarantine_deaths=row[20],
    )


def new_record(
    run_id: str, workflow_name: str, graph_hash: str | None, input: Any, now_us: int
) -> RunRecord:
    """The record of a run ``create_run`` has just inserted (without reading it back)."""
    return RunRecord(
        run_id=run_id,
        workflow_name=workflow_name,
        graph_hash=graph_hash,
        input=input,
        status="pending",
        result=None,
        error=None,
        created_at=from_us(now_us),
        updated_at=from_us(now_us),
        started_at=None,
        finished_at=None,
        wake_at=None,
        wait_signals=(),
        cancel_requested=False,
        lease_owner=None,
        lease_epoch=0,
        lease_expires_at=None,
        recoveries=0,
        last_seq=1,
    )


def create_private(path: str) -> None:
    """Create a new database file readable by its owner only (its -wal and -shm follow it).

    The database holds every run's inputs, outputs and errors; the process
    umask would often leave it readable by every user of the machine. An
    existing file keeps the mode its owner gave it.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        return  # it exists (or cannot be made here: connect says why, in one line)
    os.close(fd)
