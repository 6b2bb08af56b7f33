"""The shared job store: Redis, so that any replica answers for any job and all take from one queue.

Redis's reliable-queue pattern: a queued job's id is moved atomically from the queue to a processing list
when a worker claims it (LMOVE, in one script with the lease), and the worker holds a lease key that expires
unless renewed. A replica that finds an id in the processing list without its lease (its worker died) moves
it back to the queue, so another replica takes the job again. Each step that must not interleave with
another replica's is one Lua script, atomic on the server.

Each job is a hash: ``state``, ``owner`` and ``attempts`` (changed by the scripts) and ``data`` (the rest of
the record, as JSON, written by the job's worker). Requests are kept under their own key until the job ends.
Results are files in ``FACESWAP_DATA_DIR``: replicas that serve them share that folder (a shared volume), or
jobs give an ``output_url``.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from faceswap.errors import ErrorCode, SwapError
from faceswap.jobs.models import JobRecord, give_up

__all__ = ["RedisJobStore"]

PREFIX = "faceswap:jobs:"
UNREACHABLE = "The job store (Redis) cannot be reached; try again shortly."
P = ParamSpec("P")
T = TypeVar("T")


def _reachable(method: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """A store call whose connection failure is NOT_READY, said where it is known."""

    @functools.wraps(method)
    async def call(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await method(*args, **kwargs)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise SwapError(ErrorCode.NOT_READY, UNREACHABLE, retry_after=5) from exc

    return call


CLAIM = """
local id = redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT')
if not id then return false end
local job = ARGV[1] .. 'job:' .. id
redis.call('SET', ARGV[1] .. 'lease:' .. id, ARGV[2], 'PX', ARGV[3])
redis.call('HINCRBY', job, 'attempts', 1)
redis.call('HSET', job, 'owner', ARGV[2])
return id
"""

RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] or redis.call('HGET', KEYS[2], 'owner') ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

SAVE = """
if (redis.call('HGET', KEYS[1], 'owner') or '') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'data', ARGV[3])
return 1
"""

FINISH = """
if (redis.call('HGET', KEYS[1], 'owner') or '') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'data', ARGV[3], 'owner', '')
redis.call('LREM', KEYS[2], 0, ARGV[4])
redis.call('DEL', KEYS[3], KEYS[4])
redis.call('ZADD', KEYS[5], ARGV[5], ARGV[4])
return 1
"""

GIVE_BACK = """
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return 0 end
if redis.call('LREM', KEYS[2], 0, ARGV[2]) == 0 then return 0 end
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[1], 'state', 'queued', 'owner', '')
if tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0') > 0 then
  redis.call('HINCRBY', KEYS[1], 'attempts', -1)
end
redis.call('RPUSH', KEYS[4], ARGV[2])
return 1
"""

REQUEUE = """
local out = {}
for _, id in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
  if ARGV[3] == '1' or redis.call('EXISTS', ARGV[1] .. 'lease:' .. id) == 0 then
    redis.call('LREM', KEYS[2], 0, id)
    redis.call('DEL', ARGV[1] .. 'lease:' .. id)
    local job = ARGV[1] .. 'job:' .. id
    if redis.call('EXISTS', job) == 1 then
      if tonumber(redis.call('HGET', job, 'attempts') or '0') >= tonumber(ARGV[2]) then
        redis.call('HSET', job, 'state', 'failed', 'owner', '')
      else
        redis.call('HSET', job, 'state', 'queued', 'owner', '')
        redis.call('RPUSH', KEYS[1], id)
      end
      table.insert(out, id)
    end
  end
end
return out
"""


class RedisJobStore:
    """JobStore over one Redis server (``redis://`` URL), shared by every replica."""

    exclusive = False
    """Replicas share the store: a job left claimed is taken back only once its lease ran out."""

    def __init__(self, url: str, prefix: str = PREFIX) -> None:
        self._redis: aioredis.Redis = aioredis.Redis.from_url(url)
        self._prefix = prefix
        self._queue, self._processing = f"{prefix}queue", f"{prefix}processing"
        self._finished = f"{prefix}finished"
        self._claim = self._redis.register_script(CLAIM)
        self._renew = self._redis.register_script(RENEW)
        self._save = self._redis.register_script(SAVE)
        self._finish = self._redis.register_script(FINISH)
        self._give_back = self._redis.register_script(GIVE_BACK)
        self._requeue = self._redis.register_script(REQUEUE)

    def _job(self, job_id: str) -> str:
        return f"{self._prefix}job:{job_id}"

    def _request(self, job_id: str) -> str:
        return f"{self._prefix}request:{job_id}"

    def _lease(self, job_id: str) -> str:
        return f"{self._prefix}lease:{job_id}"

    @staticmethod
    def _data(record: JobRecord) -> str:
        fields = json.loads(record.to_json())
        for name in ("id", "state", "owner", "attempts"):
            fields.pop(name)
        return json.dumps(fields, separators=(",", ":"))

    @_reachable
    async def add(self, record: JobRecord, request: bytes) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._request(record.id), request)
            pipe.hset(
                self._job(record.id),
                mapping={"state": record.state, "owner": "", "attempts": 0, "data": self._data(record)},
            )
            pipe.lpush(self._queue, record.id)
            await pipe.execute()

    @_reachable
    async def get(self, job_id: str) -> JobRecord | None:
        fields: dict[bytes, bytes] = await self._redis.hgetall(self._job(job_id))  # type: ignore[misc]
        if not fields or b"data" not in fields:
            return None
        data: dict[str, Any] = json.loads(fields[b"data"])
        owner = fields.get(b"owner", b"").decode() or None
        state = fields[b"state"].decode()
        attempts = int(fields.get(b"attempts", b"0"))
        stored = {"id": job_id, "state": state, "owner": owner, "attempts": attempts}
        return JobRecord.from_fields({**data, **stored})

    @_reachable
    async def request(self, job_id: str) -> bytes | None:
        value: bytes | None = await self._redis.get(self._request(job_id))
        return value

    @_reachable
    async def save(self, record: JobRecord) -> None:
        await self._save(
            keys=[self._job(record.id)], args=[record.owner or "", record.state, self._data(record)]
        )

    @_reachable
    async def finish(self, record: JobRecord) -> None:
        owner, record.owner = record.owner, None
        keys = [
            self._job(record.id),
            self._processing,
            self._lease(record.id),
            self._request(record.id),
            self._finished,
        ]
        args = [owner or "", record.state, self._data(record), record.id, record.finished or time.time()]
        await self._finish(keys=keys, args=args)

    @_reachable
    async def claim(self, owner: str, lease_seconds: float) -> JobRecord | None:
        while True:
            raw = await self._claim(
                keys=[self._queue, self._processing], args=[self._prefix, owner, int(lease_seconds * 1000)]
            )
            if raw is None:
                return None
            record = await self.get(raw.decode())
            if record is not None:
                return record
            await self._redis.lrem(self._processing, 0, raw)  # type: ignore[misc]

    @_reachable
    async def renew(self, job_id: str, owner: str, lease_seconds: float) -> bool:
        renewed = await self._renew(
            keys=[self._lease(job_id), self._job(job_id)], args=[owner, int(lease_seconds * 1000)]
        )
        return bool(renewed)

    @_reachable
    async def give_back(self, job_id: str, owner: str) -> None:
        keys = [self._job(job_id), self._processing, self._lease(job_id), self._queue]
        if await self._give_back(keys=keys, args=[owner, job_id]):
            record = await self.get(job_id)
            if record is not None:
                record.started, record.progress = (
                    None,
                    {"frames_done": 0, "frames_total": 0, "eta_seconds": None},
                )
                await self.save(record)

    @_reachable
    async def requeue_expired(self, max_attempts: int, *, everyone: bool = False) -> list[JobRecord]:
        ids = await self._requeue(
            keys=[self._queue, self._processing], args=[self._prefix, max_attempts, "1" if everyone else "0"]
        )
        records = []
        for raw in ids:
            record = await self.get(raw.decode())
            if record is None:
                continue
            if record.state == "failed":
                give_up(record)
                await self.finish(record)
            else:
                record.started = None
                await self.save(record)
            records.append(record)
        return records

    @_reachable
    async def delete(self, job_id: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._job(job_id), self._request(job_id), self._lease(job_id))
            pipe.lrem(self._queue, 0, job_id)
            pipe.lrem(self._processing, 0, job_id)
            pipe.zrem(self._finished, job_id)
            await pipe.execute()

    @_reachable
    async def active(self) -> int:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.llen(self._queue)
            pipe.llen(self._processing)
            queued, processing = await pipe.execute()
        return int(queued) + int(processing)

    @_reachable
    async def finished(self) -> list[tuple[str, float]]:
        entries = await self._redis.zrange(self._finished, 0, -1, withscores=True)
        return [(raw.decode(), float(score)) for raw, score in entries]

    async def close(self) -> None:
        await self._redis.aclose()
