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
from ..serving.config import Batching, ServeConfig, check_broker_url, default_models_dir
from .serve import _duration


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = ServeConfig()
    parser.add_argument("--broker", required=True, help="redis://HOST:PORT/DB of the cluster")
    parser.add_argument(
        "--models",
        type=Path,
        metavar="DIR",
        default=default_models_dir(),
        help="folder of models this worker serves (with the bundled ones); $PICODIFF_MODELS "
        "sets the default",
    )
    parser.add_argument(
        "--device", default=None, help="cuda:0, cpu, ... (default: cuda:0, else cpu)"
    )
    parser.add_argument("--name", default=None, help="this worker's name (default HOST-PID-DEVICE)")
    parser.add_argument(
        "--max-batch",
        type=int,
        default=defaults.max_batch,
        help="images sampled at once, across jobs",
    )
    parser.add_argument(
        "--batching",
        default="step",
        choices=Batching.__args__,  # type: ignore[attr-defined]
        help="when waiting rows join the running batch (see picodiff serve)",
    )
    parser.add_argument(
        "--preview-every",
        type=int,
        default=0,
        help="denoising steps between preview images (0 = about 8 per job)",
    )
    parser.add_argument(
        "--memory-mb",
        type=int,
        default=defaults.memory_mb,
        help="memory budget of the loaded-model cache",
    )
    parser.add_argument(
        "--reload-interval",
        type=float,
        default=defaults.reload_interval,
        help="seconds between checks of --models for changes (0 = never)",
    )
    parser.add_argument(
        "--heartbeat",
        type=_duration,
        default=2.0,
        help="seconds between heartbeats (the worker is gone after three missed)",
    )
    parser.add_argument(
        "--visibility-timeout",
        type=_duration,
        default=30.0,
        help="a job untouched this long by the worker that took it (it died) is "
        "taken over by another",
    )
    parser.add_argument(
        "--broker-timeout",
        type=float,
        default=defaults.broker_timeout,
        help="seconds any call to the broker may take",
    )
    parser.add_argument(
        "--metrics-host", default="127.0.0.1", help="address the metrics are served on"
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve Prometheus metrics at http://METRICS_HOST:PORT/metrics (0 = any free port)",
    )
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=0,
        help="PyTorch CPU threads (0 = its default, one per core)",
    )


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
    if args.max_batch < 1 or args.heartbeat <= 0 or args.visibility_timeout <= 3 * args.heartbeat:
        raise UserError(
            "--max-batch must be >= 1 and --visibility-timeout longer than three heartbeats"
        )
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
