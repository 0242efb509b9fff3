"""The REST API blueprint (/api): models, generation jobs, live events, rollouts."""

from __future__ import annotations

import hmac
import time
from dataclasses import replace

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.routing import BaseConverter

from .. import __version__
from ..diffusion import default_steps
from .broker import BrokerDown
from .catalog import RESERVED_NAMES
from .clients import Client
from .jobs import Job
from .logs import log_event
from .openapi import openapi_document
from .sse import POLL_SECONDS
from .validation import ApiError, parse_flag, parse_generate, parse_json

api = Blueprint("api", __name__, url_prefix="/api")


class ModelName(BaseConverter):
    """A model name in a path, never one the API itself uses there (/api/models/reload), so
    the router answers those with the route's own methods."""

    regex = "(?!(?:" + "|".join(RESERVED_NAMES) + ")$)[^/]+"


def services():
    """The app's Services (created once per app by create_app)."""
    return current_app.extensions["picodiff"]


@api.get("/health")
def health():
    return {"status": "ok", "version": __version__}


@api.get("/ready")
def ready():
    """200 when requests can be served: a worker alive and a valid model (?model=NAME: a
    worker alive for that model); else 503 with the reason."""
    svc = services()
    wanted = request.args.get("model")
    if svc.broker is not None:
        body = _cluster_ready(svc, wanted)
    else:
        workers = bool(svc.queue.workers) and all(w.is_alive() for w in svc.queue.workers)
        names = {entry.name for entry in svc.manager.entries() if entry.valid}
        body = {"ready": workers and bool(names), "workers": workers, "valid_models": len(names)}
        if not workers:
            body["reason"] = "the sampling worker stopped"
        elif wanted is not None and wanted not in names:
            entry = svc.manager.entry(wanted)
            _known(wanted, entry is not None)
            body.update(ready=False, reason=f"model {wanted!r} cannot be served: {entry.reason}")  # type: ignore[union-attr]
        elif not names:
            body["reason"] = "no valid model found"
    return body, 200 if body["ready"] else 503


def _cluster_ready(svc, wanted: str | None) -> dict:
    try:
        svc.broker.ping()
        workers = svc.broker.workers()
    except BrokerDown as err:
        return {
            "ready": False,
            "workers": False,
            "valid_models": 0,
            "broker": "unreachable",
            "reason": str(err),
        }
    names = {m["entry"]["name"] for w in workers for m in w["models"]}
    body = {
        "ready": bool(names),
        "workers": bool(workers),
        "valid_models": len(names),
        "broker": "ok",
        "live_workers": len(workers),
    }
    if wanted is not None and wanted not in names:
        _known(wanted, wanted in svc.broker.catalog())
        body.update(ready=False, reason=f"no live worker serves model {wanted!r}")
    elif not names:
        body["reason"] = "no live worker" if not workers else "no worker holds a valid model"
    return body


def _known(name: str, known: bool) -> None:
    """A readiness question about a model nobody has is a 404, not a 503."""
    if not known:
        raise ApiError(404, f"no model named {name!r}; GET /api/models lists them", field="model")


@api.get("/models")
def models():
    return jsonify(_describe_models())


@api.get("/models/<model_name:name>")
def model(name: str):
    found = [m for m in _describe_models() if m["name"] == name]
    if not found:
        raise ApiError(404, f"no model named {name!r}; GET /api/models lists them")
    return found[0]


@api.post("/models/reload")
def reload_models():
    """Scan now; if a scan is already running, answer at once (it sees the same files)."""
    changes = services().manager.scan(wait=False)
    in_progress = changes is None
    changes = changes or {"added": [], "removed": [], "changed": []}
    return {**changes, "in_progress": in_progress, "models": _describe_models()}


def _describe_models() -> list[dict]:
    """Every model as GET /api/models shows it: whether it is loaded now, and each sampler's
    default step count for it (the one policy, SamplerSettings.resolve)."""
    svc = services()
    loaded = {key.split("@")[0] for key in svc.manager.loaded()}
    return [
        {
            **e.describe(),
            "loaded": e.name in loaded,
            "default_steps": default_steps(e.T, svc.config.max_steps) if e.T else None,
            "health": svc.health.describe(e),
        }
        for e in svc.manager.entries()
    ]


@api.post("/generate")
def generate():
    """Queue a job (202); with ?wait=true answer with its images once done."""
    svc = services()
    wait = parse_flag("wait", request.args.get("wait"))
    if request.mimetype != "application/json":  # a form or text body needs no CORS preflight
        raise ApiError(415, "send the body as JSON, with Content-Type: application/json")
    body = parse_generate(parse_json(request.get_data(cache=False)), svc.config)
    client = Client.of(request)
    release = svc.streams.acquire(client) if wait else (lambda: None)
    try:
        hidden_behind = svc.rollouts.alias_of(body.model)
        if hidden_behind and not svc.config.expose_candidates:
            raise ApiError(
                403,
                f"model {body.model!r} is the candidate of rollout {hidden_behind!r}: ask for "
                f"{hidden_behind!r} (or start the server with --expose-candidates)",
                field="model",
            )
        routed = svc.rollouts.route(body.model, client.name)
        model, shadow = routed or (body.model, None)
        alias = body.model if routed else None
        stable = svc.rollouts.stable_of(alias) if alias else None
        job = _submit(replace(body, model=model), alias, client, fallback=stable)
        if shadow:  # the candidate draws the very images the client gets from stable
            _submit_shadow(replace(body, model=shadow, seed=job.request.seed), alias)
        if wait:
            return _wait(job)
    finally:
        release()
    return job.summary(), 202, {"Location": f"/api/jobs/{job.id}"}


def _submit(
    body, alias: str | None, client: Client, shadow: bool = False, fallback: str | None = None
) -> Job:
    svc = services()
    entry = svc.manager.require(body.model)
    job = Job(body.for_model(entry, svc.config), entry.version, alias, client, shadow)
    if fallback and fallback != body.model:
        job.fallback = _fallback(body, fallback)
    svc.queue.submit(job)
    if not shadow:
        svc.jobs.add(job)
    return job


def _fallback(body, stable: str):
    """The request for stable that replaces a failed candidate's, or None if stable cannot
    take it (then the candidate's failure is the answer)."""
    svc = services()
    try:
        return replace(body, model=stable).for_model(svc.manager.require(stable), svc.config)
    except Exception as err:  # stable invalid, or these steps beyond its T
        log_event("no_fallback", model=stable, error=str(err))
        return None


def _submit_shadow(body, alias: str) -> None:
    """The candidate's copy of a request; a shadow never fails the client's request."""
    try:
        _submit(body, alias, Client("shadow"), shadow=True)
    except Exception as err:  # full queue, invalid candidate: recorded, not returned
        services().rollouts.shadow_skipped(alias, err)


def _wait(job: Job):
    """Hold the request until the job finishes or wait_timeout passes; a client that goes away
    cancels its job (it was never told the job's id)."""
    svc = services()
    job = svc.jobs.get(job.id) or job  # an API replica's job is the one in the broker
    finished = _until_finished(job, svc.config.wait_timeout, client_gone())
    if finished is None:
        svc.queue.cancel(job)
        return "", 499  # the client closed the connection: nobody reads this
    if not finished:
        return job.summary(), 202, {"Location": f"/api/jobs/{job.id}"}
    if job.status == "done":
        return {**job.summary(), "images_base64": job.images_base64()}, 200
    if job.status == "failed":
        error = job.error or {"status": 500, "message": "the job failed"}
        return {"error": error, "job": job.summary()}, error["status"]
    raise ApiError(409, f"job {job.id} was cancelled")


def _until_finished(job: Job, timeout: float, gone) -> bool | None:
    """True once the job finishes, False at the timeout, None if the client went away."""
    deadline = time.monotonic() + timeout
    while not job.wait_finished(min(POLL_SECONDS, max(0.0, deadline - time.monotonic()))):
        if gone():
            return None
        if time.monotonic() >= deadline:
            return False
    return True


def is_admin(request, token: str | None) -> bool:
    """Whether the request carries `Authorization: Bearer TOKEN` with the admin token."""
    sent = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(sent.encode(), f"Bearer {token}".encode())


def client_gone():
    """The request's check for a client that closed its connection (waitress has one)."""
    return request.environ.get("waitress.client_disconnected") or (lambda: False)


def _job(job_id: str) -> Job:
    jobs = services().jobs
    job = jobs.get(job_id)
    if job is None:
        raise ApiError(404, jobs.why_missing(job_id))
    return job


@api.get("/jobs/<job_id>")
def job_status(job_id: str):
    return _job(job_id).summary()


@api.delete("/jobs/<job_id>")
def cancel_job(job_id: str):
    job = _job(job_id)
    if job.client != Client.of(request) and not is_admin(request, services().config.admin_token):
        raise ApiError(
            403,
            f"job {job_id} was created by another client: only its creator (the same address "
            "and X-Client-Id) or a request with the admin token may cancel it",
        )
    if not services().queue.cancel(job):
        raise ApiError(409, f"job {job_id} is already {job.status}")
    return _job(job_id).summary()


@api.get("/jobs/<job_id>/events")
def job_event_stream(job_id: str):
    job = _job(job_id)
    release = services().streams.acquire(Client.of(request))
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    events = services().jobs.events(job, request.headers.get("Last-Event-ID"), client_gone())
    response = Response(events, mimetype="text/event-stream", headers=headers)
    response.call_on_close(release)
    return response


@api.get("/jobs/<job_id>/images/<int:index>.png")
def job_image(job_id: str, index: int):
    job = _job(job_id)
    if index >= job.request.n:
        raise ApiError(404, f"job {job_id} has {job.request.n} image(s), numbered from 0")
    image = services().jobs.image(job, index) if job.images[index] is not None else None
    if image is None:
        raise ApiError(409, f"image {index} of job {job_id} is not ready (job {job.status})")
    return Response(image, mimetype="image/png", headers={"Cache-Control": "max-age=3600"})


@api.get("/rollouts")
def rollouts():
    return jsonify(services().rollouts.describe())


@api.get("/openapi.json")
def openapi():
    return openapi_document(services().config)
