"""Serve models over HTTP: the REST API (and the web page when built), with waitress.

Models are looked for in --models (default: $PICODIFF_MODELS, else ./models; a missing folder
simply holds none) and in the models bundled with picodiff. The API is described at
/api/openapi.json; metrics are at /metrics.

Examples:
    picodiff serve
    picodiff serve --models runs/best --port 9000 --max-batch 16
    picodiff serve --rollout rollout.yaml
    picodiff serve --broker redis://127.0.0.1:6379/0 --port 8001   # an API replica, no models
    curl -X POST 'http://127.0.0.1:8000/api/generate?wait=true' \\
         -H 'Content-Type: application/json' -d '{"model": "NAME", "n": 4, "seed": 0}'
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ..errors import UserError
from ..serving.catalog import ModelEntry
from ..serving.config import ServeConfig, default_models_dir
from ..serving.origin import is_loopback
from ..serving.quality import parse_duration


def duration(text: str) -> float:
    """An argparse type: seconds from 90, 90s, 30m or 1h30m."""
    try:
        return parse_duration(text)
    except UserError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


# (flag, type, help) of every option that sets the ServeConfig field of the same name
OPTIONS = [
    ("--host", str, "address to listen on (0.0.0.0 = every network)"),
    ("--port", int, "TCP port (0 = any free port)"),
    ("--max-batch", int, "images sampled at once, shared across requests (1 = no batching)"),
    (
        "--batching",
        str,
        "when waiting requests join the running batch: step (at the next network call), job "
        "(when the batch ends) or none (one request at a time)",
    ),
    ("--max-n", int, "most images per request"),
    ("--max-steps", int, "most denoising steps per request"),
    ("--queue-size", int, "queued jobs before requests get 429"),
    ("--client-jobs", int, "jobs one client may have waiting or running (its address: twice)"),
    ("--memory-mb", int, "memory budget of the loaded-model cache (least recently used leave)"),
    ("--threads", int, "HTTP threads (each streaming or ?wait=true client holds one)"),
    (
        "--max-streams",
        int,
        "event streams and ?wait=true requests open at once; beyond, 503 "
        "(0 = all threads but 8, or half of them)",
    ),
    ("--client-streams", int, "of those, open for one client (its address: most of them)"),
    ("--connection-limit", int, "open connections, idle ones included"),
    ("--idle-timeout", float, "seconds before an idle or half-sent connection is closed"),
    (
        "--reload-interval",
        float,
        "seconds between checks of the model folders for changes "
        "(0 = only on POST /api/models/reload)",
    ),
    ("--preview-every", int, "denoising steps between preview images (0 = about 8 per job)"),
    (
        "--quality-check-every",
        duration,
        "how often each model with a reference store in its metadata is checked: FID/KID of "
        "--quality-n images, drawn in idle time only (e.g. 30m, 1h; 0 = never)",
    ),
    ("--quality-n", int, "images per quality check"),
    (
        "--broker",
        str,
        "redis://HOST:PORT/DB: run as an API replica of a cluster: jobs, progress, images and "
        "rollout state live in Redis and `picodiff worker` processes draw them (no models are "
        "loaded here)",
    ),
    (
        "--trusted-proxy",
        str,
        "address of a reverse proxy (nginx) whose X-Forwarded-For names the client (limits and "
        "fair shares are per client address)",
    ),
    ("--broker-timeout", float, "seconds any call to the broker may take before a 503"),
    ("--result-ttl", duration, "how long a finished job's status and images stay in the broker"),
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = ServeConfig()
    parser.add_argument(
        "--models",
        type=Path,
        metavar="DIR",
        default=default_models_dir(),
        help="folder of models (checkpoint folders, .pt/.pth files, NAME.cascade.yaml); "
        "$PICODIFF_MODELS sets the default",
    )
    for flag, kind, text in OPTIONS:
        name = flag[2:].replace("-", "_")
        parser.add_argument(flag, type=kind, default=getattr(defaults, name), help=text)
    parser.add_argument(
        "--rollout",
        type=Path,
        metavar="FILE",
        default=None,
        help="rollout YAML file (aliases with shadow, A/B or canary)",
    )
    parser.add_argument(
        "--device",
        action="append",
        dest="devices",
        metavar="DEVICE",
        help="device to sample on, one worker each; repeat for several (none given: every "
        "GPU, else the CPU)",
    )
    parser.add_argument(
        "--allow-host",
        action="append",
        dest="allowed_hosts",
        metavar="NAME",
        help="answer requests for this host name too (by default only the listening address "
        "and, on a loopback address, localhost); repeat for several",
    )
    parser.add_argument(
        "--expose-candidates",
        action="store_true",
        help="let clients ask for a rollout's candidate by its own name (by default it "
        "answers only through its alias)",
    )
    add_torch_threads(parser)


def add_torch_threads(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=0,
        help="PyTorch CPU threads (0 = its default, one per core)",
    )


def run(args: argparse.Namespace) -> int:
    import waitress  # imported here: other commands do not need the server

    from ..serving import create_app

    config = _config(args)
    if args.torch_threads > 0:
        torch.set_num_threads(args.torch_threads)
    app = create_app(config)
    _allow_open_files(config.connection_limit + 64)
    try:
        server = waitress.create_server(
            app,
            host=config.host,
            port=config.port,
            threads=config.threads,
            ident="picodiff",
            connection_limit=config.connection_limit,
            channel_timeout=config.idle_timeout,
            cleanup_interval=max(1.0, min(30.0, config.idle_timeout / 2)),
            max_request_body_size=config.max_body_bytes,  # refused before it is read
            channel_request_lookahead=1,  # lets a waiting request notice its client leave
            **_proxy_options(config.trusted_proxy),
        )
    except OSError as err:
        raise UserError(
            f"cannot listen on {config.host}:{config.port} ({err.strerror or err})"
        ) from None
    services = app.extensions["picodiff"]
    port = server.effective_port  # type: ignore[union-attr]
    if config.broker:
        _print_replica(config, port)
    else:
        _print_startup(config, port, services.manager.entries())
        _print_rollouts(services.rollouts.describe())
    try:
        server.run()
    finally:
        services.close()
    return 0


def _proxy_options(proxy: str | None) -> dict:
    """waitress's: the client address from X-Forwarded-For, only when sent by `proxy`."""
    if proxy is None:
        return {}
    return {
        "trusted_proxy": proxy,
        "trusted_proxy_count": 1,
        "trusted_proxy_headers": {"x-forwarded-for"},
        "clear_untrusted_proxy_headers": True,
    }


def _allow_open_files(count: int) -> None:
    """Raise the soft limit on open files towards `count` (each connection holds one)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = count if hard == resource.RLIM_INFINITY else min(count, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def _config(args: argparse.Namespace) -> ServeConfig:
    names = ["models", "rollout", *(flag[2:].replace("-", "_") for flag, _, _ in OPTIONS)]
    try:
        return ServeConfig(
            **{name: getattr(args, name) for name in names},
            devices=tuple(args.devices or ()),
            allowed_hosts=tuple(args.allowed_hosts or ()),
            expose_candidates=args.expose_candidates,
        )
    except ValueError as err:
        raise UserError(str(err)) from None


def _print_address(config: ServeConfig, port: int) -> None:
    host = f"[{config.host}]" if ":" in config.host else config.host
    print(
        f"picodiff serve: http://{host}:{port}/  (API /api, docs /api/openapi.json, "
        "metrics /metrics)",
        flush=True,
    )
    if not is_loopback(config.host):
        print(f"warning: listening on {config.host}: reachable from other machines", flush=True)


def _print_replica(config: ServeConfig, port: int) -> None:
    from ..serving.broker import Broker, BrokerDown

    _print_address(config, port)
    broker = Broker(config.broker, config.broker_timeout)  # type: ignore[arg-type]
    try:
        workers = broker.workers()
        state = f"{len(workers)} live worker(s)"
    except BrokerDown as err:
        state = f"not reachable yet ({err}); requests get 503 until it is"
    print(f"API replica of broker {broker.safe_url}: {state}", flush=True)


def _print_startup(config: ServeConfig, port: int, entries: list[ModelEntry]) -> None:
    _print_address(config, port)
    roots = ", ".join(str(root) for root in config.roots if root.is_dir()) or "none found"
    valid = sum(e.valid for e in entries)
    print(f"models ({valid} valid, {len(entries) - valid} invalid; from {roots}):", flush=True)
    for entry in entries:
        print(f"  {_describe(entry)}", flush=True)
    if not entries:
        print(f"  none: put checkpoint folders in {config.models} (or set --models)", flush=True)


def _print_rollouts(rollouts: list[dict]) -> None:
    for r in rollouts:
        stable, candidate = r["versions"]
        state = f"{r['status']}, candidate share {r['candidate_percent']:g}%"
        reason = f": {r['reason']}" if r["reason"] else ""
        print(
            f"rollout {r['alias']}: {r['mode']} {stable} -> {candidate} ({state}){reason}",
            flush=True,
        )


def _describe(entry: ModelEntry) -> str:
    if not entry.valid:
        return f"INVALID {entry.name}: {entry.reason}"
    fid = f", FID {entry.fid:g}" if entry.fid is not None else ""
    schedule = (entry.schedule or {}).get("name")
    text = (
        f"ok      {entry.name}: {entry.image_size} px, {entry.channels} channel(s), "
        f"T={entry.T} {schedule}, {entry.parameters:,} parameters{fid} [{entry.version}]"
    )
    return "\n            ".join([text, *(f"warning: {w}" for w in entry.warnings)])
