"""`picodiff serve` end to end: a real server (waitress) on 127.0.0.1 in a subprocess."""

import base64
import io
import json
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import jsonschema
import pytest
import requests
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from live_server import Server
from PIL import Image
from test_serving_units import make_evil_pickle, make_model, make_nan_model

SLOW = {"model": "slow", "sampler": "ddpm", "steps": 1000, "n": 4}  # seconds of work


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve")
    models = tmp / "models"
    make_model(models, "tiny", fid=12.5, version="1.0")
    make_model(models, "tiny-v2", fid=11.0, seed=1)
    make_model(models, "tiny-v3", fid=99.0, seed=2)
    make_model(models, "gray8", size=8, channels=1, T=50)
    make_model(models, "slow", T=1000)
    make_model(models, "too-big", widths=(64, 128))  # over --memory-mb 1
    make_nan_model(models)
    (models / "no-config").mkdir()
    make_evil_pickle(models, tmp / "pwned")
    rollout = {
        "ab-faces": {"stable": "tiny", "candidate": "tiny-v2", "mode": "ab", "percent": 50},
        "shadow-faces": {"stable": "tiny", "candidate": "tiny-v2", "mode": "shadow"},
        "canary-faces": {
            "stable": "tiny",
            "candidate": "tiny-v2",
            "mode": "canary",
            "ramp": [50, 100],
            "fid_threshold": 20,
            "min_requests": 2,
            "min_clients": 1,
            "min_stage_seconds": 0,
        },
        "bad-canary": {
            "stable": "tiny",
            "candidate": "tiny-v3",
            "mode": "canary",
            "fid_threshold": 20,
        },
    }
    (tmp / "rollout.yaml").write_text(yaml.safe_dump({"rollouts": rollout}))
    return tmp


@pytest.fixture(scope="module")
def server(root):
    options = "--max-batch 8 --max-n 4 --queue-size 12 --reload-interval 0.3 --preview-every 2 "
    options += "--memory-mb 1"
    models, rollout = root / "models", root / "rollout.yaml"
    server = Server(root, "--models", str(models), "--rollout", str(rollout), *options.split())
    yield server
    server.stop()


def decode(png_base64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(png_base64)))


# --- startup and the model list ---------------------------------------------------------------
def test_startup_prints_the_url_and_every_model_with_reasons(server, root):
    assert "ok      tiny: 16 px, 3 channel(s), T=100 cosine" in server.startup
    assert "INVALID no-config: missing config.json" in server.startup
    assert "rollout bad-canary: canary tiny -> tiny-v3 (rolled_back, candidate share 0%): " in (
        server.startup
    )
    assert re.search(
        r"INVALID evil: refused: it holds Python objects besides tensors, which could run code",
        server.startup,
    )


def test_models_lists_valid_and_invalid_with_details(server):
    models = {m["name"]: m for m in server.get("/api/models").json()}
    tiny = models["tiny"]
    assert (tiny["valid"], tiny["version"], tiny["fid"], tiny["T"]) == (True, "1.0", 12.5, 100)
    assert (tiny["resolution"], tiny["channels"], tiny["schedule"]) == (16, 3, "cosine")
    assert tiny["parameters"] > 100_000 and tiny["file_size"] > tiny["parameters"] * 4
    assert models["gray8"]["version"].startswith("sha256:")
    assert not models["no-config"]["valid"] and not models["evil"]["valid"]
    assert models["nan-out"]["valid"]  # finite weights: only sampling shows it is broken


def test_a_malicious_pickle_never_runs(server, root):
    assert server.generate(model="evil").status_code == 503
    assert not (root / "pwned").exists()


# --- generation ---------------------------------------------------------------------------------
def test_each_model_is_sampled_at_its_own_resolution_and_channels(server):
    for name, size, mode in (("tiny", 16, "RGB"), ("gray8", 8, "L")):
        job = server.generate(model=name, n=2, steps=3).json()
        assert job["status"] == "done" and job["steps"] == 3
        images = [decode(b64) for b64 in job["images_base64"]]
        assert [(im.size, im.mode) for im in images] == [((size, size), mode)] * 2
        png = server.get(job["images"][1])
        assert png.headers["Content-Type"] == "image/png"
        assert png.content == base64.b64decode(job["images_base64"][1])


def test_seeds_make_images_reproducible_alone_or_in_a_batch(server):
    four = server.generate(model="tiny", n=4, seed=42, sampler="ddim", eta=1.0, steps=4).json()
    one = server.generate(model="tiny", n=1, seed=42, sampler="ddim", eta=1.0, steps=4).json()
    assert four["images_base64"][0] == one["images_base64"][0]
    assert four["images_base64"][1] != four["images_base64"][0]
    random_seed = server.generate(model="tiny", steps=2).json()
    assert isinstance(random_seed["seed"], int)


def batch_metric(server, **labels) -> tuple[float, float]:
    """(sum, count) of the images-per-network-call histogram."""
    return tuple(server.metric(f"picodiff_batch_images_{k}", **labels) for k in ("sum", "count"))


def rows_per_call(server, since: tuple[float, float], **labels) -> float:
    """Mean images per network call since `since` (a batch_metric)."""
    total, calls = batch_metric(server, **labels)
    return (total - since[0]) / (calls - since[1])


MIXED = [  # different samplers and step counts, sharing network calls
    {"sampler": "ddim", "steps": 30},
    {"sampler": "dpmpp2m", "steps": 7},
    {"sampler": "heun", "steps": 5},
    {"sampler": "unipc3", "steps": 9},
    {"sampler": "dpmpp2m-sde", "steps": 6},
]


def test_jobs_join_a_running_batch_at_the_next_step_and_draw_the_same_bytes(server):
    slow = server.generate(wait=False, **SLOW).json()  # 4 of the 8 rows, 1000 steps
    while server.get(f"/api/jobs/{slow['id']}").json()["progress"]["step"] < 3:
        time.sleep(0.02)
    since = batch_metric(server, model="slow")
    with ThreadPoolExecutor(len(MIXED)) as pool:
        futures = [
            pool.submit(server.generate, model="slow", seed=s, **body)
            for s, body in enumerate(MIXED)
        ]
        jobs = [future.result().json() for future in futures]
    during = server.get(f"/api/jobs/{slow['id']}").json()
    shared = rows_per_call(server, since, model="slow")
    assert [j["status"] for j in jobs] == ["done"] * len(MIXED)
    # they started and finished while the first job was still sampling, sharing its calls
    assert during["status"] == "running" and during["progress"]["step"] < 1000
    assert shared > 4.5, f"{shared:.2f} images per call: the new jobs did not share the calls"
    server.cancel(slow["id"])
    since = batch_metric(server, model="slow")
    alone = [server.generate(model="slow", seed=s, **body).json() for s, body in enumerate(MIXED)]
    assert rows_per_call(server, since, model="slow") == 1.0  # the cancelled job's rows left
    for shared_job, alone_job in zip(jobs, alone):
        assert alone_job["images_base64"] == shared_job["images_base64"], alone_job["sampler"]


def test_jobs_that_fill_the_batch_wait_and_none_starves(server):
    """Rows beyond --max-batch wait for free rows; every job finishes, images as alone."""
    body = {"model": "tiny", "sampler": "ddim", "steps": 12, "n": 4}
    since = batch_metric(server)
    with ThreadPoolExecutor(6) as pool:
        jobs = [
            f.result().json()
            for f in [pool.submit(server.generate, seed=s, **body) for s in range(6)]
        ]
    assert [j["status"] for j in jobs] == ["done"] * 6
    assert rows_per_call(server, since) <= 8
    alone = server.generate(seed=5, **body).json()
    assert alone["images_base64"] == jobs[5]["images_base64"]


def test_sse_streams_progress_previews_and_the_final_images(server):
    job = server.generate(wait=False, model="slow", sampler="ddpm", steps=200, n=2).json()
    events = []
    with requests.get(server.url(f"/api/jobs/{job['id']}/events"), stream=True, timeout=30) as r:
        assert r.headers["Content-Type"].startswith("text/event-stream")
        name = None
        for line in r.iter_lines(decode_unicode=True):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:])))
    names = [name for name, _ in events]
    assert names[-1] == "done" and "preview" in names
    steps = [data["step"] for name, data in events if name == "progress"]
    assert steps == sorted(steps) and steps[-1] == 200
    progress = next(data for name, data in events if name == "progress" and data["step"] > 0)
    assert progress["total"] == 200 and progress["eta_seconds"] >= 0
    preview = next(data for name, data in events if name == "preview")
    assert decode(preview["png"]).size == (16 * 2 + 3, 16 + 2)  # 2 images on a 1-px grid
    assert len(events[-1][1]["images"]) == 2


def test_cancel_stops_within_one_denoising_step(server):
    job = server.generate(wait=False, **SLOW).json()
    while (status := server.get(f"/api/jobs/{job['id']}").json())["progress"]["step"] < 3:
        time.sleep(0.05)
    cancelled = server.cancel(job["id"]).json()
    assert cancelled["status"] == "cancelled"
    for _ in range(100):
        stopped = server.get(f"/api/jobs/{job['id']}").json()["stopped_at_step"]
        if stopped:
            break
        time.sleep(0.02)
    assert stopped <= cancelled["progress"]["step"] + 1
    assert status["status"] == "running"
    again = server.cancel(job["id"])
    assert again.status_code == 409
    assert server.generate(model="tiny", steps=2).json()["status"] == "done"  # worker is free


# --- errors -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"model": "nope"}, 404, "model"),
        ({"model": "tiny", "n": 5}, 422, "n"),
        ({"model": "tiny", "steps": 101}, 422, "steps"),
        ({"model": "tiny", "steps": 1001}, 422, "steps"),
        ({"model": "tiny", "sampler": "lms"}, 422, "sampler"),
        ({"model": "tiny", "eta": "x"}, 422, "eta"),
        ({"model": "tiny", "extra": 1}, 422, "extra"),
        ([1, 2], 422, None),
        ({"model": "no-config"}, 503, None),
    ],
)
def test_bad_requests_get_clear_4xx_and_5xx(server, body, status, field):
    response = server.post("/api/generate", json=body)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["status"] == status and error.get("field") == field and error["message"]


JSON_TYPE = {"Content-Type": "application/json"}


def test_body_limits_json_and_methods(server):
    huge = server.post("/api/generate", data=b"{" + b" " * 20000 + b"}", headers=JSON_TYPE)
    # waitress refuses it from the Content-Length, before reading the body
    assert huge.status_code == 413 and "exceeds max_body of 16384" in huge.text
    assert server.post("/api/generate", data=b"{nope", headers=JSON_TYPE).status_code == 400
    body = json.dumps({"model": "tiny", "steps": 2})
    for kind in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        refused = server.post("/api/generate", data=body, headers={"Content-Type": kind})
        assert refused.status_code == 415 and "application/json" in refused.text, kind
    assert server.post("/api/generate", data=body).status_code == 415  # no type at all
    for method, path, allow in (
        ("PUT", "/api/generate", "POST"),
        ("GET", "/api/generate", "POST"),  # not the page's 404 for a missing file
        ("POST", "/api/health", "GET, HEAD"),
        ("PATCH", "/api/jobs/x", "GET, HEAD, DELETE"),
        ("GET", "/api/models/reload", "POST"),  # not a model named "reload"
    ):
        refused = requests.request(method, server.url(path), timeout=5)
        assert (refused.status_code, refused.headers.get("Allow")) == (405, allow), path
        assert f"use {allow}" in refused.json()["error"]["message"]
    assert server.get("/api/jobs/unknown").status_code == 404
    assert server.get("/api/nothing").json()["error"]["status"] == 404


def test_only_its_own_host_and_origin_are_answered(server):
    """Another page, or a DNS name rebound to 127.0.0.1, cannot drive or read the server."""
    port = server.base.rsplit(":", 1)[1]
    for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example"):
        refused = server.get("/api/models", headers={"Host": host})
        assert refused.status_code == 403 and "--allow-host" in refused.text, host
    for origin in ("http://evil.example", "null", f"file://127.0.0.1:{port}"):
        body = {"model": "tiny", "steps": 2}
        refused = server.post("/api/generate", json=body, headers={"Origin": origin})
        assert refused.status_code == 403, origin
    own = {"Host": f"localhost:{port}", "Origin": f"http://localhost:{port}"}
    assert server.get("/api/models", headers=own).status_code == 200
    job = server.post("/api/generate?wait=true", json={"model": "tiny", "steps": 2}, headers=own)
    assert job.status_code == 200 and "Access-Control-Allow-Origin" not in job.headers


def test_images_endpoint_checks_index_and_readiness(server):
    job = server.generate(model="tiny", steps=2).json()
    assert server.get(f"/api/jobs/{job['id']}/images/1.png").status_code == 404
    slow = server.generate(wait=False, **SLOW).json()
    assert server.get(f"/api/jobs/{slow['id']}/images/0.png").status_code == 409
    server.cancel(slow["id"])


def test_a_model_producing_nan_gives_500_and_a_metric_never_an_image(server):
    response = server.generate(model="nan-out", steps=3)
    assert response.status_code == 500
    assert "non-finite" in response.json()["error"]["message"]
    assert "images_base64" not in response.json()["job"]
    assert server.metric("picodiff_output_range_violations_total", model="nan-out") >= 1


def test_a_model_that_cannot_load_gives_503_and_a_metric(server):
    response = server.generate(model="too-big", steps=2)
    assert response.status_code == 503
    assert "memory budget is 1.0 MiB" in response.json()["error"]["message"]
    assert server.metric("picodiff_model_load_failures_total", model="too-big") == 1
    model = server.get("/api/models/too-big").json()
    assert not model["valid"] and "memory budget" in model["reason"]
    assert server.generate(model="too-big").status_code == 503  # refused up front now


def test_a_full_queue_answers_429_with_retry_after(server):
    """Three client addresses fill the queue (12) within their shares; then 429 for all."""
    jobs, answer = [], (None, {}, None)
    for i in range(30):
        address = f"127.0.0.{2 + i % 3}"
        answer = server.request_from(address, "POST", "/api/generate", SLOW)
        if answer[0] != 202:
            break
        jobs.append((address, answer[2]["id"]))
    for address, job_id in jobs:
        assert server.request_from(address, "DELETE", f"/api/jobs/{job_id}")[0] == 200
    status, headers, body = answer
    assert status == 429 and int(headers["Retry-After"]) >= 1
    assert body["error"]["message"].startswith("the generation queue is full")
    assert len(jobs) >= 12  # 12 waiting, besides the running ones


# --- hot reload -------------------------------------------------------------------------------
def test_models_appear_change_and_disappear_without_restart(server, root):
    models = root / "models"
    make_model(models, "fresh", size=8)
    for _ in range(50):
        if any(m["name"] == "fresh" for m in server.get("/api/models").json()):
            break
        time.sleep(0.1)
    assert server.generate(model="fresh", steps=2).json()["status"] == "done"
    make_model(models, "fresh", size=12, seed=3)
    reloaded = server.post("/api/models/reload").json()  # or the watcher got there first

    def resolution() -> int:
        return {m["name"]: m["resolution"] for m in reloaded["models"]}["fresh"]

    for _ in range(50 if reloaded["in_progress"] else 0):  # a scan was running: it scans again
        time.sleep(0.1)
        reloaded["models"] = server.get("/api/models").json()
        if resolution() == 12:
            break
    assert resolution() == 12
    job = server.generate(model="fresh", steps=2).json()
    assert decode(job["images_base64"][0]).size == (12, 12)
    shutil.rmtree(models / "fresh")
    assert "fresh" not in [m["name"] for m in server.post("/api/models/reload").json()["models"]]
    assert server.generate(model="fresh").status_code == 404


# --- rollouts ---------------------------------------------------------------------------------
def _alias_jobs(server, alias, clients):
    return [
        server.post(
            "/api/generate?wait=true",
            json={"model": alias, "steps": 2},
            headers={"X-Client-Id": f"client-{c}"},
        ).json()
        for c in clients
    ]


def test_rollout_ab_is_sticky_and_canary_promotes_or_rolls_back(server):
    first = [j["model"] for j in _alias_jobs(server, "ab-faces", range(8))]
    again = [j["model"] for j in _alias_jobs(server, "ab-faces", range(8))]
    assert first == again and set(first) == {"tiny", "tiny-v2"}
    canary = _alias_jobs(server, "canary-faces", range(12))
    assert {j["alias"] for j in canary} == {"canary-faces"}
    shadow = _alias_jobs(server, "shadow-faces", range(2))
    assert {j["model"] for j in shadow} == {"tiny"}
    time.sleep(0.5)  # the shadow copies finish in the background
    state = {r["alias"]: r for r in server.get("/api/rollouts").json()}
    assert state["canary-faces"]["status"] == "promoted"
    assert state["canary-faces"]["candidate_percent"] == 100
    assert state["bad-canary"]["status"] == "rolled_back"
    assert "FID 99" in state["bad-canary"]["reason"]
    versions = state["shadow-faces"]["versions"]
    assert versions["tiny"]["done"] == 2 and versions["tiny-v2"]["done"] == 2
    assert versions["tiny-v2"]["fid"] == 11.0 and versions["tiny-v2"]["role"] == "candidate"


# --- monitoring -------------------------------------------------------------------------------
def test_metrics_and_structured_logs(server):
    server.generate(model="tiny", steps=2)
    text = server.get("/metrics").text
    for name in (
        "picodiff_http_requests_total",
        "picodiff_queue_depth",
        "picodiff_job_latency_seconds_bucket",
        "picodiff_denoise_step_seconds_bucket",
        "picodiff_model_load_failures_total",
        "picodiff_output_range_violations_total",
    ):
        assert name in text
    assert server.metric("picodiff_http_requests_total", route="/api/generate", status="200") >= 1
    assert server.metric("picodiff_model_load_failures_total", model="no-config") >= 1
    events = server.log_events()
    request = next(e for e in events if e["event"] == "request")
    assert {"method", "route", "status", "ms"} <= set(request)
    job = next(e for e in events if e["event"] == "job")
    assert {"id", "model", "status", "latency_s", "n", "steps"} <= set(job)


def test_health_ready_and_openapi(server):
    assert server.get("/api/health").json()["status"] == "ok"
    assert server.get("/api/ready").json()["ready"] is True
    document = server.get("/api/openapi.json").json()
    assert document["openapi"].startswith("3.")
    schema = document["components"]["schemas"]["GenerateRequest"]
    assert schema["properties"]["n"]["maximum"] == 4 and schema["required"] == ["model"]
    assert "/api/jobs/{job_id}/events" in document["paths"]


def test_every_answer_matches_the_openapi_document(server):
    """Models, jobs and every event's data have the shapes the document (and so the page's
    generated types) declare."""
    document = server.get("/api/openapi.json").json()

    def check(value, name):
        jsonschema.validate(value, _inline({"$ref": f"#/components/schemas/{name}"}, document))

    for model in server.get("/api/models").json():
        check(model, "Model")
    check(server.get("/api/health").json(), "Health")
    check(server.get("/api/ready").json(), "Ready")
    done = server.generate(model="tiny", n=2, steps=4, seed=1).json()
    check(done, "Job")
    check(server.get(f"/api/jobs/{done['id']}").json(), "Job")
    check(server.post("/api/generate", json={"model": "nope"}).json(), "Error")
    queued = server.generate(wait=False, model="tiny", n=2, steps=4).json()
    with requests.get(server.url(f"/api/jobs/{queued['id']}/events"), stream=True, timeout=60) as r:
        names = [_check_event(block, check) for block in _sse_blocks(r)]
    assert names[0] == "progress" and names[-1] == "done"


def _sse_blocks(response):
    block = []
    for line in response.iter_lines(decode_unicode=True):
        if line:
            block.append(line)
        elif block:
            yield block
            if block[0] in ("event: done", "event: failed", "event: cancelled"):
                return
            block = []


def _check_event(block, check) -> str:
    name = block[0].removeprefix("event: ")
    check(json.loads(block[1].removeprefix("data: ")), f"{name.capitalize()}Event")
    return name


# --- property-based fuzz of the API from its OpenAPI document ----------------------------------
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _inline(schema, document):
    """The schema with every $ref replaced by its target."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[1]
            return _inline(document["components"]["schemas"][name], document)
        return {k: _inline(v, document) for k, v in schema.items()}
    return [_inline(v, document) for v in schema] if isinstance(schema, list) else schema


def from_schema(schema):
    """Values valid under the JSON Schema subset the OpenAPI document uses."""
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    low, high = schema.get("minimum"), schema.get("maximum")
    strategies = {
        "integer": lambda: st.integers(low, high),
        "number": lambda: st.floats(low, high, allow_nan=False, allow_infinity=False),
        "string": lambda: (
            st.from_regex(schema["pattern"], fullmatch=True)
            if "pattern" in schema
            else st.text(min_size=schema.get("minLength", 0), max_size=schema.get("maxLength", 30))
        ),
        "object": lambda: st.fixed_dictionaries(
            {k: from_schema(schema["properties"][k]) for k in schema.get("required", [])},
            optional={
                k: from_schema(v)
                for k, v in schema["properties"].items()
                if k not in schema.get("required", [])
            },
        ),
    }
    kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    return st.one_of(*(strategies[kind]() for kind in kinds))


@pytest.fixture(scope="module")
def fuzz_plan(server):
    """Every operation with strategies for its parameters and body; valid, working models only."""
    document = server.get("/api/openapi.json").json()
    fits = [m for m in server.get("/api/models").json() if (m["parameters"] or 0) * 4 < 2**20]
    names = [m["name"] for m in fits if m["valid"]]  # within --memory-mb 1: no bundled model
    models = [n for n in names if n not in ("nan-out", "slow")] + ["no-such-model"]
    jobs = [server.generate(model="tiny", steps=2).json()["id"]]
    plan = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            params = {
                p["name"]: (p["in"], _param_strategy(p, jobs))
                for p in operation.get("parameters", [])
            }
            body = None
            if "requestBody" in operation:
                schema = _inline(
                    operation["requestBody"]["content"]["application/json"]["schema"], document
                )
                schema["properties"]["model"] = {"enum": models}
                body = from_schema(schema) | JSON_VALUES
            plan.append((method, path, _inline(operation, document), params, body))
    return plan


def _param_strategy(param, jobs):
    strategy = from_schema(param["schema"])
    if param["in"] == "path":  # clients resolve the dot segments "." and ".." away
        strategy = strategy.filter(lambda value: value not in (".", ".."))
    return st.sampled_from(jobs) | strategy if param["name"] == "job_id" else strategy


FUZZ = settings(
    max_examples=50, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)


@FUZZ
@given(data=st.data())
def test_fuzz_every_operation_never_gives_5xx(server, fuzz_plan, data):
    _fuzz_once(server, data.draw(st.sampled_from(fuzz_plan)), data)


@FUZZ
@given(data=st.data())
def test_fuzz_generate_bodies_never_give_5xx_for_valid_models(server, fuzz_plan, data):
    generate = next(op for op in fuzz_plan if op[1] == "/api/generate")
    _fuzz_once(server, generate, data)


def _fuzz_once(server, planned, data) -> None:
    """Draw parameters and a body for one operation; the answer must be a declared non-5xx."""
    method, path, operation, params, body = planned
    values = {name: data.draw(strategy, label=name) for name, (_, strategy) in params.items()}
    for name, (where, _) in params.items():
        if where == "path":
            path = path.replace("{" + name + "}", quote(str(values[name]), safe=""))
    query = {n: v for n, v in values.items() if params[n][0] == "query"}
    headers = {n: v for n, v in values.items() if params[n][0] == "header"}
    extra = {"json": data.draw(body, label="body")} if body is not None else {}
    with requests.request(
        method.upper(),
        server.url(path),
        params=query,
        headers=headers,
        timeout=60,
        stream=True,
        **extra,
    ) as response:
        assert response.status_code < 500, response.text[:300]
        assert str(response.status_code) in operation["responses"], (path, response.status_code)
        declared = operation["responses"][str(response.status_code)]["content"]
        if "application/json" in declared:
            jsonschema.validate(response.json(), declared["application/json"]["schema"])
