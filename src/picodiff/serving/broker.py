"""The Redis layout of a picodiff cluster, and every read and write made on it.

API replicas (`picodiff serve --broker URL`) and workers (`picodiff worker --broker URL`) share
nothing but this. Keys, under the prefix `picodiff:`:

    job:ID            hash: the request, its client, status, progress, version, error
    job:ID:images     hash: image index -> PNG bytes
    job:ID:events     stream: progress / preview / done / failed / cancelled (SSE ids)
    queue:MODEL       stream of job ids, consumer group `workers`: a worker that dies leaves
                      its entries pending, and another claims them after the visibility timeout
    clients           hash: jobs waiting or running per client, per address and in all
    worker:NAME       a worker's heartbeat (expires): its device, models, loaded models, health
    catalog           hash: every model a worker has published (served while a worker has it)
    finished          stream of finished jobs (rollout counters), consumer group `rollouts`
    rollouts          the rollouts' state; rollouts:lock serialises its changes
    cancel            pub/sub channel: job ids to stop at their next step

A finished job's keys expire after `result_ttl`. Every call has a bounded timeout; a broker
that cannot be reached raises BrokerDown (the API answers 503).
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import redis

from .clients import Client
from .jobs import Job
from .queue import QueueFull
from .validation import GenerateRequest

PREFIX = "picodiff:"
WORKERS_GROUP, ROLLOUTS_GROUP = "workers", "rollouts"
FINISHED_KEEP = 10_000  # entries the finished stream keeps (about)
MAX_BLOCK = 1.0  # the longest a blocking read waits for news (seconds)
QUEUED_TTL = 7 * 86400  # a job nobody ever finishes is forgotten after a week

_SUBMIT = """
local mine = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
local address = tonumber(redis.call('HGET', KEYS[3], ARGV[2]) or '0')
local total = tonumber(redis.call('HGET', KEYS[3], 'total') or '0')
if mine >= tonumber(ARGV[3]) or address >= tonumber(ARGV[4]) then return {0, mine} end
if total >= tonumber(ARGV[5]) then return {-1, total} end
redis.call('HINCRBY', KEYS[3], ARGV[1], 1)
redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
redis.call('HINCRBY', KEYS[3], 'total', 1)
redis.call('HSET', KEYS[1], unpack(ARGV, 9))
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('XADD', KEYS[4], '*', 'event', 'progress', 'data', ARGV[8])
redis.call('EXPIRE', KEYS[4], ARGV[6])
redis.call('XADD', KEYS[2], '*', 'job', ARGV[7])
return {1, 0}
"""

# KEYS: job, events, images, clients, finished; ARGV: status, finished, error, event data, ttl,
# entries the finished stream keeps, then index, png pairs. A cancelled job's event names the
# step it stopped at.
_FINISH = """
local status = redis.call('HGET', KEYS[1], 'status')
if (not status) or status == 'done' or status == 'failed' or status == 'cancelled' then
  return 0
end
for i = 7, #ARGV, 2 do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]) end
local data = ARGV[4]
local fields = {'status', ARGV[1], 'finished', ARGV[2], 'error', ARGV[3], 'eta', '0'}
if ARGV[1] == 'cancelled' then
  local step = redis.call('HGET', KEYS[1], 'step') or '0'
  table.insert(fields, 'stopped_at_step')
  table.insert(fields, step)
  local decoded = cjson.decode(data)
  decoded['stopped_at_step'] = tonumber(step)
  data = cjson.encode(decoded)
end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('XADD', KEYS[2], '*', 'event', ARGV[1], 'data', data)
local who = redis.call('HMGET', KEYS[1], 'client_key', 'address_key', 'model', 'alias',
  'client_address', 'created', 'shadow')
for i = 1, 2 do
  if who[i] and redis.call('HINCRBY', KEYS[4], who[i], -1) <= 0 then
    redis.call('HDEL', KEYS[4], who[i])
  end
end
if redis.call('HINCRBY', KEYS[4], 'total', -1) <= 0 then redis.call('HDEL', KEYS[4], 'total') end
local id = redis.call('HGET', KEYS[1], 'id')
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[6], '*', 'id', id, 'model', who[3], 'alias',
  who[4] or '', 'status', ARGV[1], 'address', who[5] or '', 'created', who[6] or '0',
  'finished', ARGV[2], 'shadow', who[7] or '0')
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[5]) end
return 1
"""


# KEYS: job, events, images; ARGV: fields (JSON object of strings), events (JSON list of
# [name, data]), then index, png pairs. Changes nothing of a job that has finished.
_UPDATE = """
local status = redis.call('HGET', KEYS[1], 'status')
if (not status) or status == 'done' or status == 'failed' or status == 'cancelled' then
  return 0
end
for name, value in pairs(cjson.decode(ARGV[1])) do redis.call('HSET', KEYS[1], name, value) end
for _, e in ipairs(cjson.decode(ARGV[2])) do
  redis.call('XADD', KEYS[2], '*', 'event', e[1], 'data', e[2])
end
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]) end
return 1
"""


_WATCH = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('HINCRBY', KEYS[1], 'watchers', ARGV[1])
end
return 0
"""


class BrokerDown(Exception):
    """The broker could not be reached (or answered too slowly)."""


def key(*parts: str) -> str:
    return PREFIX + ":".join(parts)


def new_job_id() -> str:
    """128 random bits: an id nobody can guess (a job's images are readable by its id)."""
    return secrets.token_hex(16)


def job_record(job: Job) -> dict[str, str]:
    """A job as the fields of its hash."""
    client = job.client
    return {
        "id": job.id,
        "model": job.model,
        "request": json.dumps(dataclasses.asdict(job.request)),
        "fallback": json.dumps(job.fallback and dataclasses.asdict(job.fallback)),
        "version": job.version or "",
        "alias": job.alias or "",
        "shadow": "1" if job.shadow else "0",
        "client_address": client.address,
        "client_id": client.id,
        "client_key": f"c:{client.address}|{client.id}",
        "address_key": f"a:{client.address}",
        "status": job.status,
        "created": repr(job.created),
        "step": "0",
        "total": "0",
    }


def job_from_record(
    fields: dict[str, str], images: list[bytes | None] | None = None, kind: type[Job] = Job
) -> Job:
    """The Job a hash describes (images: what is stored, None where not drawn yet)."""
    fallback = json.loads(fields.get("fallback") or "null")
    job = kind(
        GenerateRequest(**json.loads(fields["request"])),
        fields.get("version", ""),
        fields.get("alias") or None,
        Client(fields["client_address"], fields.get("client_id", "")),
        shadow=fields.get("shadow") == "1",
        fallback=fallback and GenerateRequest(**fallback),
        id=fields["id"],
        status=fields["status"],
        created=float(fields["created"]),
    )
    job.started = _number(fields.get("started"))
    job.finished = _number(fields.get("finished"))
    job.step, job.total = int(fields.get("step") or 0), int(fields.get("total") or 0)
    job.eta_seconds = _number(fields.get("eta"))
    job.watchers = max(0, int(fields.get("watchers") or 0))  # streams open on the replicas
    job.error = json.loads(fields.get("error") or "null")
    stopped = fields.get("stopped_at_step")
    job.stopped_at_step = int(stopped) if stopped not in (None, "") else None
    if images is not None:
        job.images = images
        job.pending.clear()
        job.pending.extend(i for i, image in enumerate(images) if image is None)
    return job


def _field(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def _ms(block: float) -> int:
    """A blocking read's wait in milliseconds (at least 1: 0 would wait forever)."""
    return max(1, int(min(block, MAX_BLOCK) * 1000))


def _number(text: str | None) -> float | None:
    return float(text) if text not in (None, "", "None") else None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _decoded(fields: dict) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in fields.items()}


class Broker:
    """One process's connection to the cluster's Redis (thread-safe: a connection pool)."""

    def __init__(self, url: str, timeout: float = 2.0, result_ttl: float = 3600.0):
        self.url, self.timeout, self.result_ttl = url, timeout, int(max(1, result_ttl))
        try:
            self.redis = redis.Redis.from_url(
                url, socket_timeout=timeout, socket_connect_timeout=timeout, retry_on_timeout=False
            )
            # blocking reads wait up to MAX_BLOCK seconds for news, then answer within timeout
            self.blocking = redis.Redis.from_url(
                url, socket_timeout=timeout + MAX_BLOCK, socket_connect_timeout=timeout
            )
        except ValueError as err:
            raise BrokerDown(f"bad broker URL {url!r}: {err}") from None
        self._submit = self.redis.register_script(_SUBMIT)
        self._finish = self.redis.register_script(_FINISH)
        self._update = self.redis.register_script(_UPDATE)
        self._watch = self.redis.register_script(_WATCH)
        self._groups: set[tuple[str, str]] = set()  # consumer groups known to exist

    # --- health ---------------------------------------------------------------------------
    @contextmanager
    def reachable(self) -> Iterator[None]:
        """Turn a connection failure or timeout into BrokerDown."""
        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError) as err:
            raise BrokerDown(f"broker {self.safe_url} unreachable ({err})") from None
        except redis.ResponseError as err:
            if "LOADING" in str(err) or "MISCONF" in str(err):
                raise BrokerDown(f"broker {self.safe_url} not ready ({err})") from None
            raise

    @property
    def safe_url(self) -> str:
        """The URL without a password."""
        scheme, _, rest = self.url.partition("://")
        return f"{scheme}://{rest.rpartition('@')[2]}" if rest else self.url

    def ping(self) -> None:
        with self.reachable():
            self.redis.ping()

    def ensure_group(self, stream: str, group: str) -> None:
        """Create a consumer group (and its stream) once; it reads from the stream's start."""
        if (stream, group) in self._groups:
            return
        with self.reachable():
            try:
                self.redis.xgroup_create(stream, group, id="0", mkstream=True)
            except redis.ResponseError as err:
                if "BUSYGROUP" not in str(err):
                    raise
        self._groups.add((stream, group))

    def forget_groups(self) -> None:
        """After a NOGROUP error (a broker that lost its data): create groups again."""
        self._groups.clear()

    # --- jobs: the API's side -------------------------------------------------------------
    def submit(self, job: Job, client_jobs: int, address_jobs: int, queue_size: int) -> None:
        """Queue a job within the client's, its address's and the cluster's limits."""
        record = job_record(job)
        queue = key("queue", job.model)
        self.ensure_group(queue, WORKERS_GROUP)
        pairs = [item for pair in record.items() for item in pair]
        with self.reachable():
            status, held = self._submit(
                keys=[key("job", job.id), queue, key("clients"), key("job", job.id, "events")],
                args=[
                    record["client_key"],
                    record["address_key"],
                    client_jobs,
                    address_jobs,
                    queue_size,
                    QUEUED_TTL,
                    job.id,
                    json.dumps({"id": job.id, "status": "queued", **job.summary()["progress"]}),
                    *pairs,
                ],
            )
        if status == 0:
            raise QueueFull(max(1, held), "your client's share of the queue")
        if status == -1:
            raise QueueFull(max(1, held // 4), "the generation queue")

    def job(self, job_id: str, images: bool = False, kind: type[Job] = Job) -> Job | None:
        """The job with this id (None if unknown or expired); `images` fetches their PNGs,
        else a drawn image is b"" (its presence only)."""
        with self.reachable():
            pipe = self.redis.pipeline(transaction=False)
            pipe.hgetall(key("job", job_id))
            if images:
                pipe.hgetall(key("job", job_id, "images"))
            else:
                pipe.hkeys(key("job", job_id, "images"))
            fields, stored = pipe.execute()
        fields = _decoded(fields)
        if "request" not in fields:  # unknown, or expired
            return None
        n = json.loads(fields["request"])["n"]
        found: list[bytes | None] = [None] * n
        for index in stored:
            i = int(_text(index))
            if 0 <= i < n:
                found[i] = stored[index] if images else b""
        return job_from_record(fields, found, kind)

    def image(self, job_id: str, index: int) -> bytes | None:
        with self.reachable():
            return self.redis.hget(key("job", job_id, "images"), str(index))

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued or running job (its worker stops at the next step); False if it
        had already finished."""
        data = json.dumps({"id": job_id, "stopped_at_step": None})
        done = self._finish_job(job_id, "cancelled", None, data, {})
        if done:
            with self.reachable():
                self.redis.publish(key("cancel"), job_id)
        return done

    def events(self, job_id: str, after: str, block: float) -> list[tuple[str, str, dict]]:
        """Events of a job after the event id `after` ("0" = from the first), waiting up to
        `block` seconds for one: (id, name, data)."""
        with self.reachable():
            found = self.blocking.xread(
                {key("job", job_id, "events"): after}, count=100, block=_ms(block)
            )
        return [
            (_text(entry), _text(fields[b"event"]), json.loads(fields[b"data"]))
            for _, entries in found
            for entry, fields in entries
        ]

    # --- jobs: the worker's side ----------------------------------------------------------
    def take(
        self, models: list[str], consumer: str, count: int, block: float
    ) -> list[tuple[str, str, str]]:
        """Up to `count` new jobs of these models for this worker: (model, entry id, job id)."""
        streams = {key("queue", m): ">" for m in models}
        for stream in streams:
            self.ensure_group(stream, WORKERS_GROUP)
        with self.reachable():
            try:
                found = self.blocking.xreadgroup(
                    WORKERS_GROUP, consumer, streams, count=count, block=_ms(block)
                )
            except redis.ResponseError as err:
                if "NOGROUP" in str(err):
                    self.forget_groups()
                    return []
                raise
        return [
            (_text(stream)[len(key("queue", "")) :], _text(entry), _text(fields[b"job"]))
            for stream, entries in found
            for entry, fields in entries
        ]

    def reclaim(
        self, models: list[str], consumer: str, idle: float, count: int
    ) -> list[tuple[str, str, str]]:
        """Entries other workers took and have not touched for `idle` seconds (they died)."""
        claimed = []
        for model in models:
            stream = key("queue", model)
            self.ensure_group(stream, WORKERS_GROUP)
            with self.reachable():
                _, entries, *_ = self.redis.xautoclaim(
                    stream, WORKERS_GROUP, consumer, int(idle * 1000), count=count
                )
            claimed += [(model, _text(e), _text(f[b"job"])) for e, f in entries if f]
        return claimed

    def touch(self, model: str, consumer: str, entries: list[str]) -> None:
        """Keep entries this worker is drawing from being reclaimed (resets their idle time)."""
        if entries:
            with self.reachable():
                self.redis.xclaim(
                    key("queue", model), WORKERS_GROUP, consumer, 0, entries, justid=True
                )

    def ack(self, model: str, entry: str) -> None:
        with self.reachable():
            self.redis.xack(key("queue", model), WORKERS_GROUP, entry)

    def start(self, job_id: str, worker: str, version: str) -> bool:
        """Mark a job running on this worker; False if it finished meanwhile."""
        fields = {"status": "running", "worker": worker, "version": version}
        return self.update(job_id, {**fields, "started": time.time()}, [], {})

    def update(
        self,
        job_id: str,
        fields: dict[str, Any],
        events: list[tuple[str, dict]],
        images: dict[int, bytes],
    ) -> bool:
        """Publish a running job's fields, new events and newly drawn images; False (nothing
        changed) if it has finished (cancelled meanwhile)."""
        return self.update_many([(job_id, fields, events, images)])[0]

    def update_many(self, updates: list[tuple[str, dict, list, dict]]) -> list[bool]:
        """`update` for several jobs in one round trip."""
        with self.reachable():
            pipe = self.redis.pipeline(transaction=False)
            for job_id, fields, events, images in updates:
                pairs = [item for i, png in images.items() for item in (str(i), png)]
                keys = [
                    key("job", job_id),
                    key("job", job_id, "events"),
                    key("job", job_id, "images"),
                ]
                text = json.dumps({k: _field(v) for k, v in fields.items()})
                listed = json.dumps([[name, json.dumps(data)] for name, data in events])
                self._update(keys=keys, args=[text, listed, *pairs], client=pipe)
            return [bool(done) for done in pipe.execute()]

    def watch(self, job_id: str, delta: int) -> None:
        """Count an event stream of a job opening (+1) or closing (-1), on any replica."""
        with self.reachable():
            self._watch(keys=[key("job", job_id)], args=[delta])  # not on an expired job

    def states(self, job_ids: list[str]) -> list[tuple[str | None, int]]:
        """(status or None if gone, open event streams) of each job, in one round trip."""
        with self.reachable():
            pipe = self.redis.pipeline(transaction=False)
            for job_id in job_ids:
                pipe.hmget(key("job", job_id), "status", "watchers")
            found = pipe.execute()
        return [
            (status and _text(status), max(0, int(watchers or 0))) for status, watchers in found
        ]

    def finish(self, job: Job, images: dict[int, bytes]) -> bool:
        """Publish a job's outcome (done or failed) with its images; False if it had finished
        already (cancelled, or finished by another worker)."""
        if job.status == "done":
            urls = [{"index": i, "url": job.image_url(i)} for i in range(job.request.n)]
            data = {"id": job.id, "images": urls}
        else:
            data = {"id": job.id, "error": job.error}
        return self._finish_job(job.id, job.status, job.error, json.dumps(data), images)

    def _finish_job(
        self, job_id: str, status: str, error: Any, data: str, images: dict[int, bytes]
    ) -> bool:
        pairs = [item for i, png in images.items() for item in (str(i), png)]
        keys = [
            key("job", job_id),
            key("job", job_id, "events"),
            key("job", job_id, "images"),
            key("clients"),
            key("finished"),
        ]
        with self.reachable():
            return bool(
                self._finish(
                    keys=keys,
                    args=[
                        status,
                        repr(time.time()),
                        json.dumps(error),
                        data,
                        self.result_ttl,
                        FINISHED_KEEP,
                        *pairs,
                    ],
                )
            )

    def record_attempt(self, job: Job) -> None:
        """A rollout candidate's failed attempt (its job goes on, on stable)."""
        with self.reachable():
            self.redis.xadd(
                key("finished"),
                {
                    "id": job.id,
                    "model": job.model,
                    "alias": job.alias or "",
                    "status": job.status,
                    "address": job.client.address,
                    "created": repr(job.created),
                    "finished": repr(job.finished or time.time()),
                    "shadow": "1" if job.shadow else "0",
                },
                maxlen=FINISHED_KEEP,
                approximate=True,
            )

    def finished(self, consumer: str, block: float) -> list[dict[str, str]]:
        """Finished jobs not yet counted by any API replica (each is given to one)."""
        stream = key("finished")
        self.ensure_group(stream, ROLLOUTS_GROUP)
        with self.reachable():
            try:
                found = self.blocking.xreadgroup(
                    ROLLOUTS_GROUP, consumer, {stream: ">"}, count=100, block=_ms(block)
                )
            except redis.ResponseError as err:
                if "NOGROUP" in str(err):
                    self.forget_groups()
                    return []
                raise
            entries = [(e, _decoded(f)) for _, got in found for e, f in got]
            if entries:
                self.redis.xack(stream, ROLLOUTS_GROUP, *(e for e, _ in entries))
        return [fields for _, fields in entries]

    # --- workers and the catalog ----------------------------------------------------------
    def heartbeat(self, name: str, info: dict[str, Any], ttl: float) -> None:
        """A worker is alive for `ttl` seconds more; its models join the catalog."""
        with self.reachable():
            pipe = self.redis.pipeline(transaction=True)
            pipe.set(key("worker", name), json.dumps(info), px=int(ttl * 1000))
            models = {m["entry"]["name"]: json.dumps(m["entry"]) for m in info["models"]}
            if models:
                pipe.hset(key("catalog"), mapping=models)
            pipe.execute()

    def leave(self, name: str) -> None:
        with self.reachable():
            self.redis.delete(key("worker", name))

    def workers(self) -> list[dict[str, Any]]:
        """The live workers' heartbeats."""
        with self.reachable():
            names = list(self.redis.scan_iter(match=key("worker", "*"), count=1000))
            values = self.redis.mget(names) if names else []
        return [json.loads(v) for v in values if v]

    def catalog(self) -> dict[str, dict[str, Any]]:
        """Every model a worker has published: name -> its entry."""
        with self.reachable():
            found = self.redis.hgetall(key("catalog"))
        return {_text(k): json.loads(v) for k, v in found.items()}

    def queue_figures(self, model: str) -> tuple[int, float]:
        """(jobs waiting to be taken, age in seconds of the oldest of them) for a model."""
        stream = key("queue", model)
        with self.reachable():
            try:
                groups = self.redis.xinfo_groups(stream)
            except redis.ResponseError:
                return 0, 0.0
            group = next((g for g in groups if _text(g["name"]) == WORKERS_GROUP), None)
            if group is None:
                return 0, 0.0
            last = _text(group["last-delivered-id"])
            waiting = self.redis.xrange(stream, min=f"({last}", count=1)
            lag = group.get("lag")
        if not waiting:
            return 0, 0.0
        oldest = int(_text(waiting[0][0]).split("-")[0]) / 1000
        return int(lag or len(waiting)), max(0.0, time.time() - oldest)

    # --- rollouts -------------------------------------------------------------------------
    @contextmanager
    def rollout_state(self) -> Iterator[dict[str, Any]]:
        """The rollouts' saved state, changed in place under the cluster-wide lock."""
        with self.reachable():
            lock = self.redis.lock(
                key("rollouts", "lock"), timeout=10, blocking_timeout=self.timeout
            )
            if not lock.acquire():
                raise BrokerDown("the rollout state is locked by another process for too long")
            try:
                saved = json.loads(self.redis.get(key("rollouts")) or "{}")
                before = json.dumps(saved, sort_keys=True)
                yield saved
                if json.dumps(saved, sort_keys=True) != before:
                    self.redis.set(key("rollouts"), json.dumps(saved))
            finally:
                with suppress(redis.exceptions.LockError):  # expired meanwhile
                    lock.release()
