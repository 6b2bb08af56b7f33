"""The embedded job store: SQLite (WAL) in the data folder, each request a file beside it.

Jobs survive restarts, not the loss of the folder (``FACESWAP_DATA_DIR``), so the folder is a volume. The
first process to open the folder holds its lock file and is its owner (``exclusive``): at start it takes
back every job left claimed, since only a dead process of its own can have claimed them. Any other process
on the same folder (``uvicorn --workers N``) shares the jobs through leases, as replicas share Redis.
Requests are written to a temporary name and published by rename, so a crash never leaves half a request
under a job's name.
"""

from __future__ import annotations

import asyncio
import fcntl
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from faceswap.errors import storage_full
from faceswap.jobs.models import JobRecord, give_up

__all__ = ["SQLiteJobStore"]

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    owner TEXT,
    lease_until REAL,
    queue_rank REAL NOT NULL,
    finished REAL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_queue ON jobs (state, owner, queue_rank);
CREATE INDEX IF NOT EXISTS jobs_finished ON jobs (finished);
"""


class SQLiteJobStore:
    """JobStore over one SQLite file; calls run on a thread, one at a time."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.requests = folder / "requests"
        self.requests.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._owner_lock = (folder / "jobs.lock").open("a")
        try:
            fcntl.flock(self._owner_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self.exclusive = True
        except OSError:
            self.exclusive = False
        self._db = sqlite3.connect(folder / "jobs.sqlite3", check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    async def _call(self, work: Callable[[], T]) -> T:
        def locked() -> T:
            with self._lock:
                try:
                    return work()
                except sqlite3.OperationalError as exc:
                    if "full" in str(exc):
                        raise storage_full() from exc
                    raise

        return await asyncio.to_thread(locked)

    def _write(self, statements: Callable[[sqlite3.Connection], T]) -> T:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            value = statements(self._db)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        return value

    def _request_path(self, job_id: str) -> Path:
        return self.requests / f"{job_id}.json"

    async def add(self, record: JobRecord, request: bytes) -> None:
        def add() -> None:
            partial = self.requests / f".{record.id}.partial"
            partial.write_bytes(request)
            partial.rename(self._request_path(record.id))
            self._write(
                lambda db: db.execute(
                    "INSERT INTO jobs (id, state, queue_rank, record) VALUES (?, ?, ?, ?)",
                    (record.id, record.state, time.time(), record.to_json()),
                )
            )

        await self._call(add)

    async def get(self, job_id: str) -> JobRecord | None:
        def get() -> JobRecord | None:
            row = self._db.execute("SELECT record FROM jobs WHERE id = ?", (job_id,)).fetchone()
            return None if row is None else JobRecord.from_json(row[0])

        return await self._call(get)

    async def request(self, job_id: str) -> bytes | None:
        def read() -> bytes | None:
            try:
                return self._request_path(job_id).read_bytes()
            except FileNotFoundError:
                return None

        return await self._call(read)

    async def save(self, record: JobRecord) -> None:
        await self._call(
            lambda: self._write(
                lambda db: db.execute(
                    "UPDATE jobs SET state = ?, record = ? WHERE id = ? AND owner IS ?",
                    (record.state, record.to_json(), record.id, record.owner),
                )
            )
        )

    async def finish(self, record: JobRecord) -> None:
        owner, record.owner = record.owner, None

        def finish() -> None:
            self._write(
                lambda db: db.execute(
                    "UPDATE jobs SET state = ?, owner = NULL, lease_until = NULL, finished = ?, record = ? "
                    "WHERE id = ? AND owner IS ?",
                    (record.state, record.finished, record.to_json(), record.id, owner),
                )
            )
            self._request_path(record.id).unlink(missing_ok=True)

        await self._call(finish)

    async def claim(self, owner: str, lease_seconds: float) -> JobRecord | None:
        def claim(db: sqlite3.Connection) -> JobRecord | None:
            row = db.execute(
                "SELECT record FROM jobs WHERE state = 'queued' AND owner IS NULL ORDER BY queue_rank LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            record = JobRecord.from_json(row[0])
            record.owner, record.attempts = owner, record.attempts + 1
            db.execute(
                "UPDATE jobs SET owner = ?, lease_until = ?, record = ? WHERE id = ?",
                (owner, time.time() + lease_seconds, record.to_json(), record.id),
            )
            return record

        return await self._call(lambda: self._write(claim))

    async def renew(self, job_id: str, owner: str, lease_seconds: float) -> bool:
        def renew(db: sqlite3.Connection) -> bool:
            cursor = db.execute(
                "UPDATE jobs SET lease_until = ? WHERE id = ? AND owner = ?",
                (time.time() + lease_seconds, job_id, owner),
            )
            return cursor.rowcount == 1

        return await self._call(lambda: self._write(renew))

    def _requeue(self, db: sqlite3.Connection, record: JobRecord) -> None:
        """`record` first in the queue again, unowned."""
        (first,) = db.execute("SELECT MIN(queue_rank) FROM jobs").fetchone()
        record.state, record.owner, record.started = "queued", None, None
        db.execute(
            "UPDATE jobs SET state = 'queued', owner = NULL, lease_until = NULL, queue_rank = ?, record = ? "
            "WHERE id = ?",
            ((first or time.time()) - 1.0, record.to_json(), record.id),
        )

    async def give_back(self, job_id: str, owner: str) -> None:
        def give_back(db: sqlite3.Connection) -> None:
            row = db.execute("SELECT record FROM jobs WHERE id = ? AND owner = ?", (job_id, owner)).fetchone()
            if row is not None:
                record = JobRecord.from_json(row[0])
                record.attempts = max(0, record.attempts - 1)
                record.progress = {"frames_done": 0, "frames_total": 0, "eta_seconds": None}
                self._requeue(db, record)

        await self._call(lambda: self._write(give_back))

    async def requeue_expired(self, max_attempts: int, *, everyone: bool = False) -> list[JobRecord]:
        def requeue(db: sqlite3.Connection) -> list[JobRecord]:
            rows = db.execute(
                "SELECT record FROM jobs WHERE owner IS NOT NULL AND (? OR lease_until < ?)",
                (everyone, time.time()),
            ).fetchall()
            records = [JobRecord.from_json(row[0]) for row in rows]
            for record in records:
                if record.attempts >= max_attempts:
                    give_up(record)
                    db.execute(
                        "UPDATE jobs SET state = 'failed', owner = NULL, lease_until = NULL, finished = ?, "
                        "record = ? WHERE id = ?",
                        (record.finished, record.to_json(), record.id),
                    )
                    self._request_path(record.id).unlink(missing_ok=True)
                else:
                    self._requeue(db, record)
            return records

        return await self._call(lambda: self._write(requeue))

    async def delete(self, job_id: str) -> None:
        def delete() -> None:
            self._write(lambda db: db.execute("DELETE FROM jobs WHERE id = ?", (job_id,)))
            self._request_path(job_id).unlink(missing_ok=True)

        await self._call(delete)

    async def active(self) -> int:
        def count() -> int:
            (value,) = self._db.execute(
                "SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')"
            ).fetchone()
            return int(value)

        return await self._call(count)

    async def finished(self) -> list[tuple[str, float]]:
        def listing() -> list[tuple[str, float]]:
            rows = self._db.execute(
                "SELECT id, finished FROM jobs WHERE finished IS NOT NULL ORDER BY finished"
            ).fetchall()
            return [(str(job_id), float(when)) for job_id, when in rows]

        return await self._call(listing)

    async def close(self) -> None:
        await self._call(self._db.close)
        self._owner_lock.close()
