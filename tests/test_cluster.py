"""A picodiff cluster on real parts: redis-server (AOF), `picodiff worker` processes, API
replicas (`picodiff serve --broker`) and nginx, with the faults it must survive."""

from __future__ import annotations

import base64
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from cluster import Nginx, RedisServer, Worker, follow, read_events, replica, wait_until
from live_server import Server
from test_serving_units import make_model
from tiny_models import tiny_checkpoint

from picodiff.serving import create_app

ROOT = Path(__file__).resolve().parents[1]
SLOW = {"sampler": "ddpm", "steps": 300}  # a few seconds on one CPU thread: time to interfere


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    tiny_checkpoint(folder / "tiny", T=40)
    tiny_checkpoint(folder / "slow", T=300, image_size=32, seed=1)
    make_model(folder, "stable", T=40, fid=5.0)  # a rollout's pair, with recorded FIDs
    make_model(folder, "candidate", T=40, fid=5.0, seed=1)
    return folder


@pytest.fixture(scope="module")
def embedded(models):
    """The same models in an embedded server: the images every cluster run must equal."""
    app = create_app({"models": models, "bundled_models": (), "reload_interval": 0})
    yield app.test_client()
    app.extensions["picodiff"].close()


def pngs_of(body: dict) -> list[bytes]:
    return [base64.b64decode(image) for image in body["images_base64"]]


def reference(embedded, **request) -> list[bytes]:
    answer = embedded.post("/api/generate?wait=true", json=request)
    assert answer.status_code == 200, answer.get_json()
    return pngs_of(answer.get_json())


def images_of(server, job_id: str, n: int) -> list[bytes]:
    return [server.get(f"/api/jobs/{job_id}/images/{i}.png").content for i in range(n)]


def status_of(server, job_id: str) -> dict:
    return server.get(f"/api/jobs/{job_id}").json()


def wait_status(server, job_id: str, wanted, timeout: float = 60) -> dict:
    return wait_until(
        lambda: (s := status_of(server, job_id))["status"] in wanted and s,
        timeout,
        what=f"job {job_id} to be {wanted}",
    )


def listed(server, model: str) -> bool:
    return server.get(f"/api/ready?model={model}").status_code == 200


@dataclass
class Parts:
    broker: RedisServer
    api: Server
    worker: Worker
    parts: list  # stopped at the end: workers and replicas


@pytest.fixture
def cluster(tmp_path, models):
    """Redis, one API replica and one worker; more are started by the tests."""
    broker = RedisServer(tmp_path / "redis")
    api = replica(tmp_path, broker.url)
    worker = Worker(tmp_path, broker.url, models, "w1")
    parts = Parts(broker, api, worker, [worker, api])
    yield parts
    for part in parts.parts:
        part.stop()
    broker.stop()


def test_cluster_images_are_the_embedded_servers(cluster, embedded):
    api = cluster.api
    wait_until(lambda: listed(api, "tiny"), what="the worker's catalog")
    request = {"model": "tiny", "n": 3, "seed": 11, "steps": 8}
    answer = api.generate(**request)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert pngs_of(body) == reference(embedded, **request)
    assert images_of(api, body["id"], 3) == pngs_of(body)
    assert len(body["id"]) == 32 and body["status"] == "done"
    answered = {k: v for k, v in body.items() if k != "images_base64"}
    assert answered == api.get(f"/api/jobs/{body['id']}").json()  # the worker's stamps too
    assert answered["started"] <= answered["finished"]
    models = {m["name"]: m for m in api.get("/api/models").json()}
    assert models["tiny"]["T"] == 40 and models["tiny"]["valid"]
    # the job's events, each with an id, in order, ending with the images
    events = read_events(api.url(f"/api/jobs/{body['id']}/events"))
    assert [e[1] for e in events][-1] == "done" and all(e[0] for e in events)
    assert "preview" not in [e[1] for e in events]  # nobody followed it: none were drawn
    assert [base64.b64decode(i["png"]) for i in events[-1][2]["images"]] == pngs_of(body)
    # validation and unknown jobs answer as the embedded server does
    assert api.generate(model="tiny", steps=900).status_code == 422
    assert api.generate(model="nope").status_code == 404
    assert api.get("/api/ready?model=nope").status_code == 404
    assert api.get(f"/api/jobs/{'0' * 32}").status_code == 404
    assert api.metric("picodiff_live_workers", model="tiny") == 1


def test_sse_resumes_on_another_replica_with_last_event_id(cluster, tmp_path):
    broker, api, parts = cluster.broker, cluster.api, cluster.parts
    other = replica(tmp_path, broker.url)
    parts.append(other)
    wait_until(lambda: listed(api, "slow"), what="the worker's catalog")
    job = api.generate(wait=False, model="slow", n=2, seed=3, **SLOW).json()
    url = f"/api/jobs/{job['id']}/events"
    first = read_events(api.url(url), stop_after=4)
    rest = read_events(other.url(url), last_event_id=first[-1][0])
    whole = read_events(other.url(url))
    assert first + rest == whole
    assert whole[-1][1] == "done" and len({e[0] for e in whole}) == len(whole)
    assert "preview" in [e[1] for e in whole]  # followed: its worker drew previews


def test_cancel_reaches_the_worker_within_a_step(cluster):
    api = cluster.api
    wait_until(lambda: listed(api, "slow"), what="the worker's catalog")
    job = api.generate(wait=False, model="slow", n=2, seed=4, **SLOW).json()
    wait_until(lambda: status_of(api, job["id"])["progress"]["step"] >= 5, what="5 steps")
    cancelled = api.cancel(job["id"])
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    stopped = cancelled.json()["stopped_at_step"]
    time.sleep(1.0)
    after = status_of(api, job["id"])
    assert after["status"] == "cancelled" and after["progress"]["step"] <= stopped + 2
    events = read_events(api.url(f"/api/jobs/{job['id']}/events"))
    assert events[-1][1] == "cancelled" and "done" not in [e[1] for e in events]
    # the worker is free at once: a new job finishes long before the cancelled one would have
    started = time.monotonic()
    assert api.generate(model="tiny", n=1, seed=0, steps=4).status_code == 200
    assert time.monotonic() - started < 3
    assert api.cancel(job["id"]).status_code == 409


def test_a_killed_workers_job_completes_on_another(cluster, tmp_path, models, embedded):
    broker, api, first, parts = cluster.broker, cluster.api, cluster.worker, cluster.parts
    second = Worker(tmp_path, broker.url, models, "w2")
    parts.append(second)
    wait_until(lambda: listed(api, "slow"), what="the catalog")
    request = {"model": "slow", "n": 4, "seed": 21, **SLOW}
    job = api.generate(wait=False, **request).json()
    running = wait_until(
        lambda: (s := status_of(api, job["id"]))["progress"]["step"] >= 20 and s, what="steps"
    )
    holder = broker.client().hget(f"picodiff:job:{job['id']}", "worker").decode()
    victim, survivor = (first, second) if holder == "w1" else (second, first)
    victim.kill()
    done = wait_status(api, job["id"], ("done", "failed"), timeout=120)
    assert done["status"] == "done", done
    assert running["status"] == "running"
    assert broker.client().hget(f"picodiff:job:{job['id']}", "worker").decode() == survivor.name
    assert images_of(api, job["id"], 4) == reference(embedded, **request)
    events = read_events(api.url(f"/api/jobs/{job['id']}/events"))
    assert [e[1] for e in events].count("done") == 1
    finished = [f for _, f in broker.client().xrange("picodiff:finished") if f[b"model"] == b"slow"]
    assert len(finished) == 1  # counted once
    assert "job_reclaimed" in survivor.log.read_text()


def test_restarted_redis_keeps_queued_jobs_and_the_canary_stage(tmp_path, models, embedded):
    rollout = tmp_path / "rollout.yaml"
    rollout.write_text(
        "rollouts:\n  faces:\n    stable: stable\n    candidate: candidate\n    mode: canary\n"
        "    ramp: [40, 80, 100]\n    fid_threshold: 1000\n    min_requests: 1\n"
        "    min_clients: 1\n    min_stage_seconds: 0\n"
    )
    broker = RedisServer(tmp_path / "redis")
    api = replica(tmp_path, broker.url, "--rollout", str(rollout), "--expose-candidates")
    worker = Worker(tmp_path, broker.url, models, "w1", "--max-batch", "2")
    try:
        wait_until(lambda: listed(api, "candidate"), what="catalog")
        # clients until one is routed to the candidate; its job advances the canary a stage
        for client in range(40):
            answer = api.post(
                "/api/generate?wait=true",
                json={"model": "faces", "steps": 4, "seed": client},
                headers={"X-Client-Id": f"c{client}"},
            )
            assert answer.status_code == 200, answer.text
            if answer.json()["model"] == "candidate":
                break
        stage = wait_until(
            lambda: (r := api.get("/api/rollouts").json()[0])["stage"] >= 1 and r, what="stage"
        )
        # the worker holds a slow job (a full batch of its 2 rows); three more wait in Redis
        slow = {"model": "slow", "n": 2, "seed": 9, **SLOW}
        held = api.generate(wait=False, **slow).json()["id"]
        wait_status(api, held, ("running",))
        queued = [
            api.generate(wait=False, model="tiny", n=2, seed=seed, steps=6).json()["id"]
            for seed in range(3)
        ]
        assert [status_of(api, job_id)["status"] for job_id in queued] == ["queued"] * 3
        worker.kill()  # its job stays pending in the stream, for the next worker to reclaim
        broker.stop()
        broker.start()
        api.stop()
        api = replica(tmp_path, broker.url, "--rollout", str(rollout), "--expose-candidates")
        worker = Worker(tmp_path, broker.url, models, "w2")
        for seed, job_id in enumerate(queued):
            assert wait_status(api, job_id, ("done",))["status"] == "done"
            expected = reference(embedded, model="tiny", n=2, seed=seed, steps=6)
            assert images_of(api, job_id, 2) == expected
        assert wait_status(api, held, ("done",))["status"] == "done"
        assert images_of(api, held, 2) == reference(embedded, **slow)
        after = api.get("/api/rollouts").json()[0]
        assert (after["stage"], after["status"]) == (stage["stage"], stage["status"])
        done = stage["versions"]["candidate"]["done"]
        assert after["versions"]["candidate"]["done"] == done >= 1
    finally:
        worker.stop()
        api.stop()
        broker.stop()


def test_broker_down_answers_503_then_recovers(cluster):
    broker, api = cluster.broker, cluster.api
    wait_until(lambda: listed(api, "tiny"), what="the catalog")
    broker.stop()
    started = time.monotonic()
    ready = api.get("/api/ready")
    assert ready.status_code == 503 and "unreachable" in ready.json()["reason"]
    answer = api.generate(model="tiny", steps=4)
    assert answer.status_code == 503 and "broker" in answer.json()["error"]["message"]
    assert time.monotonic() - started < 6  # bounded by --broker-timeout, never a hang
    assert api.get(f"/api/jobs/{'a' * 32}").status_code == 503
    broker.start()
    wait_until(lambda: listed(api, "tiny"), 30, what="the worker to come back")
    done = api.generate(model="tiny", n=1, seed=2, steps=4)
    assert done.status_code == 200 and done.json()["status"] == "done"


def test_jobs_go_only_to_workers_that_have_the_model(cluster, tmp_path):
    broker, api, parts = cluster.broker, cluster.api, cluster.parts
    only = tmp_path / "only"
    only.mkdir()
    tiny_checkpoint(only / "lonely", T=40, seed=5)
    second = Worker(tmp_path, broker.url, only, "w2")
    parts.append(second)
    wait_until(lambda: listed(api, "lonely"), what="the second worker's model")
    jobs = {
        api.generate(wait=False, model=name, n=2, steps=6, seed=seed).json()["id"]: name
        for seed in range(4)
        for name in ("lonely", "tiny")
    }
    client = broker.client()
    drawn_by = {}
    for job_id in jobs:
        assert wait_status(api, job_id, ("done", "failed"))["status"] == "done"
        drawn_by[job_id] = client.hget(f"picodiff:job:{job_id}", "worker").decode()
    assert {drawn_by[j] for j, m in jobs.items() if m == "lonely"} == {"w2"}
    assert {drawn_by[j] for j, m in jobs.items() if m == "tiny"} <= {"w1", "w2"}


def test_killed_replica_behind_nginx_the_stream_resumes(cluster, tmp_path):
    broker, api, parts = cluster.broker, cluster.api, cluster.parts
    other = replica(tmp_path, broker.url, "--trusted-proxy", "127.0.0.1")
    parts.append(other)
    backends = [server.base.removeprefix("http://") for server in (api, other)]
    nginx = Nginx(tmp_path, ROOT / "deploy" / "nginx" / "picodiff.conf", backends)
    try:
        wait_until(lambda: listed(api, "slow"), what="the catalog")
        body = {"model": "slow", "n": 2, "seed": 8, **SLOW}
        job = requests.post(nginx.base + "/api/generate", json=body, timeout=10).json()
        path = f"/api/jobs/{job['id']}/events"
        first = read_events(nginx.base + path, stop_after=3)
        served = [s for s in (api, other) if path in s.log.read_text()]
        assert len(served) == 1, "one replica serves the stream"
        served[0].proc.kill()
        served[0].proc.wait()
        events = first + follow(nginx.base + path, first[-1][0])
        survivor = other if served[0] is api else api
        whole = read_events(survivor.url(path))
        assert events == whole
        assert events[-1][1] == "done" and len(events[-1][2]["images"]) == 2
        assert wait_status(survivor, job["id"], ("done",))["status"] == "done"
    finally:
        nginx.stop()


def test_the_worker_unit_verifies_and_its_command_runs(tmp_path, models):
    """`systemd-analyze verify` passes the unit (ExecStart pointed at this environment's
    picodiff) and fails a broken one; its ExecStart, as systemd would expand it, starts a
    worker that joins a real cluster."""
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze is missing (apt-get install systemd)")
    broker = RedisServer(tmp_path / "redis")
    unit = (ROOT / "deploy" / "systemd" / "picodiff-worker@.service").read_text()
    picodiff = str(Path(sys.executable).with_name("picodiff"))
    env = tmp_path / "worker.env"
    env.write_text(f"PICODIFF_BROKER={broker.url}\nPICODIFF_MODELS={models}\n")
    local = unit.replace("/opt/picodiff/venv/bin/picodiff", picodiff)
    local = local.replace("/etc/picodiff/worker.env", str(env)).replace("User=picodiff\n", "")
    instance = tmp_path / "picodiff-worker@cpu.service"
    instance.write_text(local)
    verify = ["systemd-analyze", "verify", str(instance)]
    checked = subprocess.run(verify, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    broken = tmp_path / "broken" / instance.name
    broken.parent.mkdir()
    broken.write_text(local.replace(picodiff, picodiff + "-missing"))
    assert subprocess.run([*verify[:2], str(broken)], capture_output=True).returncode != 0
    start = next(line for line in local.splitlines() if line.startswith("ExecStart="))
    values = {"PICODIFF_BROKER": broker.url, "PICODIFF_MODELS": str(models), "%I": "cpu"}
    words = [values.get(w.strip("${}"), values.get(w, w)) for w in start[10:].split()]
    process = subprocess.Popen([*words, "--name", "unit"], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().startswith("picodiff worker unit on cpu: ")
        workers = wait_until(lambda: broker.client().keys("picodiff:worker:*"), what="heartbeat")
        assert workers == [b"picodiff:worker:unit"]
    finally:
        process.terminate()
        process.wait(timeout=15)
        broker.stop()
