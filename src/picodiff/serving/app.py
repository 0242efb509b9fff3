"""The Flask app factory: `create_app(config=None)` builds one server's services and routes.

    from picodiff.serving import create_app
    app = create_app({"models": "models", "max_batch": 8})  # a dict of ServeConfig overrides

The model manager, queue, job store, metrics and rollouts are created once per app and kept in
`app.extensions["picodiff"]`, never per request. Serve it with waitress (`picodiff serve`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from flask import Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST

from .api import ModelName, api
from .broker import Broker
from .clients import Slots
from .config import ServeConfig
from .errors import HTTP_METHODS, register_error_handlers
from .health import Health
from .jobs import JobStore
from .logs import log_event, log_job, setup_logging
from .manager import ModelManager
from .metrics import Metrics
from .origin import HostPolicy
from .quality import QualityChecks
from .queue import GenerationQueue
from .remote import Cluster, RemoteCatalog, RemoteHealth, RemoteJobs, RemoteQueue
from .rollout import Rollouts
from .validation import ApiError
from .web import PagePath, web


@dataclass
class Services:
    """Everything one app shares between requests."""

    config: ServeConfig
    metrics: Metrics
    manager: ModelManager | RemoteCatalog
    queue: GenerationQueue | RemoteQueue
    jobs: JobStore | RemoteJobs
    rollouts: Rollouts
    health: Health | RemoteHealth
    streams: Slots  # event streams and ?wait=true requests, each holding an HTTP thread
    broker: Broker | None = None  # an API replica's cluster (serving.remote)

    def close(self) -> None:
        """Stop the workers and the model watcher (tests; the process exit does it too)."""
        self.queue.close()
        self.manager.close()


def build_services(config: ServeConfig) -> Services:
    if config.broker:
        return build_replica_services(config)
    metrics = Metrics()
    manager = ModelManager(config.roots, config.memory_budget, metrics)
    health = Health(metrics)
    queue = GenerationQueue(
        manager,
        metrics,
        max_batch=config.max_batch,
        queue_size=config.queue_size,
        client_jobs=config.client_jobs,
        preview_every=config.preview_every,
        batching=config.batching,  # type: ignore[arg-type]
        health=health,
    )
    rollouts = Rollouts.load(config.rollout, manager, metrics, live_fid=health.live_fid)
    queue.listeners += [rollouts.record, health.record, log_job]
    if config.quality_check_every:
        queue.background = QualityChecks(
            manager, health, config.quality_check_every, config.quality_n
        )
        queue.background.on_checked.append(lambda entry, result: rollouts.judge_all())
    queue.start(config.devices or default_devices())
    manager.watch(config.reload_interval)
    streams = Slots(config.stream_limit, config.client_streams)
    jobs = JobStore(config.keep_jobs)
    return Services(config, metrics, manager, queue, jobs, rollouts, health, streams)


def build_replica_services(config: ServeConfig) -> Services:
    """An API replica's: the catalog, queue, jobs and rollout state in Redis, no models."""
    metrics = Metrics()
    broker = Broker(config.broker, config.broker_timeout, config.result_ttl)  # type: ignore[arg-type]
    cluster = Cluster(broker, metrics)
    catalog, health = RemoteCatalog(cluster), RemoteHealth(cluster)
    queue = RemoteQueue(broker, metrics, config.queue_size, config.client_jobs)
    rollouts = Rollouts.load(
        config.rollout, catalog, metrics, live_fid=health.live_fid, shared=broker.rollout_state
    )
    queue.listeners.append(rollouts.record)
    streams = Slots(config.stream_limit, config.client_streams)
    return Services(
        config, metrics, catalog, queue, RemoteJobs(broker), rollouts, health, streams, broker
    )


def default_devices() -> tuple[str, ...]:
    """One worker per CUDA device, else one for the CPU."""
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return tuple(f"cuda:{i}" for i in range(count)) or ("cpu",)


def create_app(config: ServeConfig | Mapping[str, Any] | None = None) -> Flask:
    """A ready Flask app; `config` is a ServeConfig or a dict of overrides (tests)."""
    config = ServeConfig.build(config)
    setup_logging(config.log_json)
    app = Flask("picodiff.serving", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["picodiff"] = services = build_services(config)
    app.url_map.converters["page"] = PagePath  # before the routes that use them are added
    app.url_map.converters["model_name"] = ModelName
    app.register_blueprint(api)
    app.register_blueprint(web)
    register_error_handlers(app)

    @app.get("/metrics")
    def metrics():
        services.health.refresh(services.manager.entries())
        return Response(services.metrics.export(), mimetype=CONTENT_TYPE_LATEST)

    hosts = HostPolicy(config.host, config.allowed_hosts)

    @app.before_request
    def start_timer():
        g.started = time.perf_counter()
        refusal = hosts.refusal(request.headers.get("Host"), request.headers.get("Origin"))
        if refusal is not None:
            raise ApiError(403, refusal)

    @app.after_request
    def count_request(response):
        route = request.url_rule.rule if request.url_rule else "unmatched"
        method = request.method if request.method in HTTP_METHODS else "other"  # bounded labels
        services.metrics.requests.labels(method, route, response.status_code).inc()
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        log_event(
            "request",
            method=request.method,
            path=request.path,
            route=route,
            status=response.status_code,
            ms=round(elapsed * 1000, 2),
            client=request.remote_addr,
        )
        return response

    return app
