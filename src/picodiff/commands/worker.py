"""Draw a cluster's jobs on one device: take the jobs of the models in --models from the broker
(Redis), sample them with step-level batching across every job it holds, and publish progress,
previews and images back. Run one per GPU, on any machine that reaches the broker; API replicas
(`picodiff serve --broker URL`) take the requests.

Examples:
    picodiff worker --broker redis://127.0.0.1:6379/0 --models models --device cuda:0
    picodiff worker --broker redis://10.0.0.5:6379/0 --models /srv/models --device cpu \\
        --torch-threads 4 --metrics-port 9101
"""

from __future__ import annotations

import argparse
import threading
from pathlib import Path

import torch

from ..errors import UserError
from ..serving.config import ServeConfig, check_broker_url, default_models_dir
from .serve import add_torch_threads, duration

DEFAULTS = ServeConfig()
# (flag, type, default, help) of the options that take a value
OPTIONS = [
    ("--device", str, None, "cuda:0, cpu, ... (default: cuda:0, else cpu)"),
    ("--name", str, None, "this worker's name (default HOST-PID-DEVICE)"),
    ("--max-batch", int, DEFAULTS.max_batch, "images sampled at once, across jobs"),
    ("--batching", str, "step", "when waiting rows join the running batch: step, job or none"),
    ("--preview-every", int, 0, "denoising steps between preview images (0 = about 8 per job)"),
    ("--memory-mb", int, DEFAULTS.memory_mb, "memory budget of the loaded-model cache"),
    (
        "--reload-interval",
        float,
        DEFAULTS.reload_interval,
        "seconds between checks of --models for changes (0 = never)",
    ),
    ("--heartbeat", duration, 2.0, "seconds between heartbeats (gone after three missed)"),
    (
        "--visibility-timeout",
        duration,
        30.0,
        "a job untouched this long by the worker that took it (it died) is taken over",
    ),
    ("--broker-timeout", float, DEFAULTS.broker_timeout, "seconds any broker call may take"),
    (
        "--quality-check-every",
        duration,
        0.0,
        "check each model with a reference store in its metadata this often (FID/KID of "
        "--quality-n images, in idle time; e.g. 1h; 0 = never); see picodiff serve",
    ),
    ("--quality-n", int, 1000, "images per quality check"),
    ("--metrics-host", str, "127.0.0.1", "address the metrics are served on"),
    (
        "--metrics-port",
        int,
        None,
        "serve Prometheus metrics at http://METRICS_HOST:PORT/metrics (0 = any free port)",
    ),
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--broker", required=True, help="redis://HOST:PORT/DB of the cluster")
    parser.add_argument(
        "--models",
        type=Path,
        metavar="DIR",
        default=default_models_dir(),
        help="folder of models this worker serves (with the bundled ones); $PICODIFF_MODELS "
        "sets the default",
    )
    for flag, kind, default, text in OPTIONS:
        parser.add_argument(flag, type=kind, default=default, help=text)
    add_torch_threads(parser)


def run(args: argparse.Namespace) -> int:
    from prometheus_client import start_http_server

    from ..serving.broker import Broker, BrokerDown
    from ..serving.logs import setup_logging
    from ..serving.manager import ModelManager
    from ..serving.metrics import Metrics
    from ..serving.worker import ClusterWorker, default_device

    try:
        check_broker_url(args.broker)
    except ValueError as err:
        raise UserError(str(err)) from None
    if args.max_batch < 1 or args.quality_n < 2 or args.quality_check_every < 0:
        raise UserError("--max-batch must be >= 1, --quality-n >= 2, --quality-check-every >= 0")
    if args.heartbeat <= 0 or args.visibility_timeout <= 3 * args.heartbeat:
        raise UserError("--visibility-timeout must be longer than three --heartbeat intervals")
    if args.torch_threads > 0:
        torch.set_num_threads(args.torch_threads)
    setup_logging(True)
    config = ServeConfig(models=args.models, memory_mb=args.memory_mb)
    metrics = Metrics()
    manager = ModelManager(config.roots, config.memory_budget, metrics)
    manager.watch(args.reload_interval)
    worker = ClusterWorker(
        Broker(args.broker, args.broker_timeout),
        manager,
        device=args.device or default_device(),
        name=args.name,
        max_batch=args.max_batch,
        batching=args.batching,
        preview_every=args.preview_every,
        heartbeat=args.heartbeat,
        visibility=args.visibility_timeout,
        metrics=metrics,
        quality_check_every=args.quality_check_every,
        quality_n=args.quality_n,
    )
    try:
        worker.start()
    except BrokerDown as err:
        manager.close()
        raise UserError(f"cannot start: {err}") from None
    models = ", ".join(worker.models()) or "none (put checkpoints in --models)"
    print(f"picodiff worker {worker.name} on {worker.device}: {models}", flush=True)
    if args.metrics_port is not None:
        server, _ = start_http_server(
            args.metrics_port, args.metrics_host, registry=metrics.registry
        )
        print(f"metrics: http://{args.metrics_host}:{server.server_port}/metrics", flush=True)
    try:
        threading.Event().wait()
    finally:
        worker.close()
    return 0
