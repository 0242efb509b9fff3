"""Hostile clients against a real `picodiff serve`: none can starve the others."""

import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from live_server import Server
from test_serving_units import make_model, make_nan_model

SLOW = {"model": "slow", "sampler": "ddpm", "steps": 1000, "n": 4}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    make_model(tmp / "models", "slow", T=1000)
    make_model(tmp / "models", "quick", T=20)
    options = "--threads 12 --client-streams 3 --client-jobs 3 --max-batch 4 --queue-size 40"
    options += " --idle-timeout 2 --reload-interval 0"
    server = Server(tmp, "--models", str(tmp / "models"), *options.split())
    server.models = tmp / "models"
    yield server
    server.stop()


def as_client(name: str) -> dict:
    return {"X-Client-Id": name}


def timed_get(server, path: str) -> float:
    started = time.perf_counter()
    answer = requests.get(server.url(path), timeout=5)
    assert answer.status_code == 200, answer.text
    return time.perf_counter() - started


def open_stream(server, job_id: str, client: str):
    return requests.get(
        server.url(f"/api/jobs/{job_id}/events"), headers=as_client(client), stream=True, timeout=10
    )


def slow_job(server, client: str) -> str:
    answer = server.post("/api/generate", json=SLOW, headers=as_client(client))
    assert answer.status_code == 202, answer.text
    return answer.json()["id"]


def test_streams_and_waits_are_bounded_per_client_address_and_server(server):
    """12 threads: 6 long-lived requests at most, 3 per client, 5 from one address. Beyond:
    503 with Retry-After, while health, models and cancel keep answering at once."""
    job = slow_job(server, "owner")
    held = [open_stream(server, job, "a") for _ in range(3)]
    try:
        assert all(s.status_code == 200 for s in held)
        fourth = open_stream(server, job, "a")
        assert fourth.status_code == 503 and fourth.headers["Retry-After"]
        assert "for your client (at most 3)" in fourth.json()["error"]["message"]
        held += [open_stream(server, job, "b") for _ in range(2)]
        assert all(s.status_code == 200 for s in held)
        refused = open_stream(server, job, "c")  # a fresh id buys nothing from this address
        assert refused.status_code == 503
        assert "from your address (at most 5)" in refused.json()["error"]["message"]
        waited = server.post("/api/generate?wait=true", json={"model": "quick", "steps": 2})
        assert waited.status_code == 503  # refused before it queued anything
        assert max(timed_get(server, p) for p in ("/api/health", "/api/ready", "/api/models")) < 1
        started = time.perf_counter()
        assert server.cancel(job, "owner").status_code == 200
        assert time.perf_counter() - started < 1
    finally:
        for stream in held:
            stream.close()


def test_a_client_that_goes_away_frees_its_stream_and_cancels_its_wait(server):
    job = slow_job(server, "leaver")
    streams = [open_stream(server, job, "leaver") for _ in range(3)]
    assert all(s.status_code == 200 for s in streams)
    for stream in streams:
        stream.close()
    deadline = time.time() + 5  # each stream notices within a poll (1 s)
    while time.time() < deadline:
        again = open_stream(server, job, "leaver")
        again.close()
        if again.status_code == 200:
            break
        time.sleep(0.2)
    assert again.status_code == 200
    server.cancel(job, "leaver")

    cancelled = server.metric("picodiff_jobs_total", model="slow", status="cancelled")
    waiter = socket.create_connection(("127.0.0.1", int(server.base.rsplit(":", 1)[1])))
    body = b'{"model": "slow", "sampler": "ddpm", "steps": 1000}'
    waiter.sendall(
        b"POST /api/generate?wait=true HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nX-Client-Id: waiter\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    time.sleep(1)
    waiter.close()  # gone before the 1000 steps: its job is cancelled, its thread freed
    deadline = time.time() + 5
    while time.time() < deadline:
        now = server.metric("picodiff_jobs_total", model="slow", status="cancelled")
        if now > cancelled:
            break
        time.sleep(0.2)
    assert now == cancelled + 1


def test_idle_and_half_sent_connections_do_not_block_and_are_closed(server):
    port = int(server.base.rsplit(":", 1)[1])
    idle = []
    for i in range(150):  # past waitress's default limit of 100 connections
        sock = socket.create_connection(("127.0.0.1", port))
        if i % 2:
            sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finished
        idle.append(sock)
    try:
        assert timed_get(server, "/api/health") < 1
        time.sleep(2 + 1 + 1.5)  # idle timeout, the cleanup interval, slack
        for sock in idle:
            sock.settimeout(2)
            assert sock.recv(1024) == b""  # closed by the server
    finally:
        for sock in idle:
            sock.close()


def test_one_client_flooding_the_queue_gets_429_and_others_keep_their_share(server):
    flood = [server.post("/api/generate", json=SLOW, headers=as_client("flood")) for _ in range(5)]
    assert [r.status_code for r in flood] == [202, 202, 202, 429, 429]
    assert "your client's share of the queue" in flood[3].json()["error"]["message"]
    assert int(flood[3].headers["Retry-After"]) >= 1
    try:
        started = time.perf_counter()
        body = {"model": "quick", "sampler": "ddim", "steps": 10, "n": 2}
        answer = server.post("/api/generate?wait=true", json=body, headers=as_client("polite"))
        polite = time.perf_counter() - started
        assert answer.status_code == 200, answer.text
        first = server.get(f"/api/jobs/{flood[0].json()['id']}").json()
        assert first["status"] == "running" and first["progress"]["step"] < 1000
        # it did not wait for the flood's rows (1000 steps each); it ran beside them
        assert polite < 15
    finally:
        for r in flood[:3]:
            server.cancel(r.json()["id"], "flood")


def test_a_body_over_the_limit_is_refused_before_it_is_read(server):
    port = int(server.base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(
            b"POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n{"
        )
        answer = sock.recv(4096).decode()
    assert answer.startswith("HTTP/1.1 413")


def test_many_waiters_and_streams_at_once_leave_health_and_cancel_responsive(server):
    job = slow_job(server, "owner2")
    body = {"model": "slow", "sampler": "ddpm", "steps": 1000, "n": 1}

    def wait_job(i):
        return requests.post(
            server.url("/api/generate?wait=true"),
            json=body,
            headers=as_client(f"w{i}"),
            timeout=5,
        ).status_code

    def stream(i):
        with open_stream(server, job, f"s{i}") as s:
            return s.status_code

    with ThreadPoolExecutor(40) as pool:
        waits = [pool.submit(wait_job, i) for i in range(20)]
        streams = [pool.submit(stream, i) for i in range(20)]
        time.sleep(1.5)
        latencies = [timed_get(server, "/api/health") for _ in range(5)]
        started = time.perf_counter()
        assert server.cancel(job, "owner2").status_code == 200
        cancel = time.perf_counter() - started
        codes = [f.result() for f in streams]
        for f in waits:
            try:
                codes.append(f.result())
            except requests.Timeout:
                codes.append("held")
    assert max(latencies) < 1 and cancel < 1
    assert 503 in codes  # the excess was refused, not queued behind the held threads


def test_only_its_creator_or_the_admin_token_cancels_a_job_and_a_restart_says_jobs_were_lost(
    tmp_path,
):
    make_model(tmp_path / "models", "slow", T=1000)
    args = ("--models", str(tmp_path / "models"), "--reload-interval", "0")
    server = Server(tmp_path, *args, env={"PICODIFF_ADMIN_TOKEN": "s3cret-token"})
    try:
        job = slow_job(server, "a")
        for refused in (
            server.cancel(job, "b"),
            server.request_from("127.0.0.2", "DELETE", f"/api/jobs/{job}", None, as_client("a")),
            requests.delete(
                server.url(f"/api/jobs/{job}"),
                headers={"Authorization": "Bearer wrong"},
                timeout=5,
            ),
        ):
            status = refused.status_code if hasattr(refused, "status_code") else refused[0]
            assert status == 403
        assert "created by another client" in server.cancel(job, "b").json()["error"]["message"]
        admin = {"Authorization": "Bearer s3cret-token"}
        assert requests.delete(server.url(f"/api/jobs/{job}"), headers=admin, timeout=5).ok
        bad_id = server.post("/api/generate", json={"model": "slow"}, headers=as_client("a b"))
        assert bad_id.status_code == 400 and bad_id.json()["error"]["field"] == "X-Client-Id"
        kept = slow_job(server, "a")
        assert "32 hex digits" in server.get("/api/jobs/nope").json()["error"]["message"]
    finally:
        server.stop()
    server = Server(tmp_path, *args)
    try:
        lost = server.get(f"/api/jobs/{kept}")
        assert lost.status_code == 404
        assert "before this server restarted" in lost.json()["error"]["message"]
    finally:
        server.stop()


# --- nothing from a request or a model file grows without bound ---------------------------------
def test_made_up_http_methods_share_one_metrics_label(server):
    for i in range(30):
        requests.request(f"X{i:03d}{'Q' * 2000}", server.url("/api/health"), timeout=5)
    lines = [line for line in server.get("/metrics").text.splitlines() if "X0" in line]
    assert lines == []  # no series per method
    assert server.metric("picodiff_http_requests_total", method="other") >= 30


def write_config(model_dir, change) -> None:
    import json

    path = model_dir / "config.json"
    config = json.loads(path.read_text())
    change(config)
    path.write_text(json.dumps(config))


def test_huge_T_and_image_size_are_listed_invalid_with_the_reason(server):
    models = server.models
    write_config(make_model(models, "huge-T"), lambda c: c["schedule"].update(T=10**8))
    write_config(make_model(models, "huge-size"), lambda c: c["model"].update(image_size=2048))
    started = time.perf_counter()
    server.post("/api/models/reload")
    scan = time.perf_counter() - started
    listed = {m["name"]: m for m in server.get("/api/models").json()}
    assert not listed["huge-T"]["valid"] and "[1, 100,000]" in listed["huge-T"]["reason"]
    huge = listed["huge-size"]
    assert not huge["valid"] and "over the memory budget" in huge["reason"]
    assert "2048 px" in huge["reason"]
    answer = server.generate(model="huge-size", steps=2)
    assert answer.status_code == 503 and "memory budget" in answer.json()["error"]["message"]
    assert scan < 5  # validating them allocated nothing of their size


# --- the catalog never blocks and never lists what cannot run -----------------------------------
def test_the_catalog_lists_fifos_oversize_and_stray_files_with_reasons_and_never_blocks(server):
    import os

    models = server.models
    (models / "piped").mkdir()
    os.mkfifo(models / "piped" / "config.json")  # reading it would wait for a writer forever
    os.mkfifo(models / "pipe.pt")
    (make_model(models, "padded") / "config.json").write_text(" " * (2 << 20) + "{}")
    write_config(make_model(models, "str-heads"), lambda c: c["model"].update(heads="2"))
    (models / "weights.safetensors").write_bytes(b"\0" * 64)
    (models / "model.ckpt").write_bytes(b"\0" * 64)
    for name, option in (("too-augmented", "aug_level: 1.5"), ("wordy", "steps: ten")):
        (models / f"{name}.cascade.yaml").write_text(f"stages:\n  - path: slow\n    {option}\n")
    with ThreadPoolExecutor(1) as pool:
        reload = pool.submit(server.post, "/api/models/reload")
        listed = {m["name"]: m for m in reload.result(timeout=20).json()["models"]}
    expected = {
        "piped": "not a regular file",
        "pipe": "not a regular file",
        "padded": "over the 1,048,576 allowed",
        "str-heads": "heads must be an integer, got '2'",
        "weights": "a bare weights file",
        "model": "a format picodiff does not read",
        "too-augmented": "aug_level must be a number in [0, 1], got 1.5",
        "wordy": "steps must be a whole number, got 'ten'",
    }
    for name, reason in expected.items():
        assert not listed[name]["valid"], name
        assert reason in listed[name]["reason"], (name, listed[name]["reason"])
        assert str(models) not in listed[name]["reason"]  # relative to the models folder
        assert server.generate(model=name, steps=2).status_code == 503
    assert listed["slow"]["valid"]


# --- a broken candidate never reaches a client; clients do not steer rollouts -------------------
def nan_model_with_fid(models, name: str):
    write_config(make_nan_model(models, name), lambda c: c.update(metadata={"fid": 5.0}))


ROLLOUTS = {
    "nan-canary": {
        "stable": "tiny",
        "candidate": "broken",
        "mode": "canary",
        "ramp": [50, 100],
        "fid_threshold": 50,
        "min_requests": 3,
    },
    "nan-ab": {
        "stable": "tiny",
        "candidate": "broken-too",
        "mode": "ab",
        "percent": 50,
        "min_requests": 3,
    },
    "gated": {
        "stable": "tiny",
        "candidate": "fine",
        "mode": "canary",
        "ramp": [50, 100],
        "fid_threshold": 50,
        "min_requests": 2,
        "min_clients": 3,
        "min_stage_seconds": 1,
    },
}


@pytest.fixture(scope="module")
def rollout_root(tmp_path_factory):
    import yaml

    root = tmp_path_factory.mktemp("rollouts")
    models = root / "models"
    make_model(models, "tiny", T=20, version="stable-1")
    make_model(models, "fine", T=20, seed=1, fid=10.0, version="fine-1")
    nan_model_with_fid(models, "broken")
    nan_model_with_fid(models, "broken-too")
    (root / "rollout.yaml").write_text(yaml.safe_dump({"rollouts": ROLLOUTS}))
    return root


def rollout_server(root):
    args = ["--models", str(root / "models"), "--rollout", str(root / "rollout.yaml")]
    return Server(root, *args, "--reload-interval", "0")


def rollout_state(server) -> dict:
    return {r["alias"]: r for r in server.get("/api/rollouts").json()}


def test_a_failing_candidate_is_retried_on_stable_rolled_back_and_stays_rolled_back(
    rollout_root,
):
    server = rollout_server(rollout_root)
    try:
        for alias in ("nan-canary", "nan-ab"):
            for i in range(20):
                body = {"model": alias, "steps": 2}
                answer = server.post(
                    "/api/generate?wait=true", json=body, headers=as_client(f"{alias}{i}")
                )
                assert answer.status_code == 200, answer.text  # never the candidate's 500
                assert answer.json()["version"] == "stable-1"
            state = rollout_state(server)[alias]
            assert state["status"] == "rolled_back" and state["candidate_percent"] == 0
            assert (
                state["versions"]["broken" if alias == "nan-canary" else "broken-too"]["failed"]
                >= 1
            )
        hidden = server.generate(model="broken", steps=2)
        assert hidden.status_code == 403 and "nan-canary" in hidden.json()["error"]["message"]
    finally:
        server.stop()
    server = rollout_server(rollout_root)  # a restart keeps what the rollouts decided
    try:
        state = rollout_state(server)
        assert state["nan-canary"]["status"] == state["nan-ab"]["status"] == "rolled_back"
        for i in range(6):
            answer = server.post(
                "/api/generate?wait=true",
                json={"model": "nan-ab", "steps": 2},
                headers=as_client(f"again{i}"),
            )
            assert answer.json()["version"] == "stable-1"
    finally:
        server.stop()


def test_one_client_cannot_promote_a_canary_many_clients_over_time_can(rollout_root):
    server = rollout_server(rollout_root)
    try:
        for i in range(16):  # one address, forged ids: half of them reach the candidate
            server.post(
                "/api/generate?wait=true",
                json={"model": "gated", "steps": 2},
                headers=as_client(f"forged{i}"),
            )
        state = rollout_state(server)["gated"]
        assert state["versions"]["fine"]["done"] >= 2
        assert (state["status"], state["candidate_percent"]) == ("active", 50)
        time.sleep(1)
        for k in range(2, 5):  # three more addresses
            for i in range(6):
                server.request_from(
                    f"127.0.0.{k}",
                    "POST",
                    "/api/generate?wait=true",
                    {"model": "gated", "steps": 2},
                    as_client(f"c{i}"),
                )
        state = rollout_state(server)["gated"]
        assert state["candidate_percent"] == 100
    finally:
        server.stop()
