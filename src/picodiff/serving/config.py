"""ServeConfig: every setting of the server, with the defaults `picodiff serve` shows."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..bundled import BUNDLED_MODELS_DIR
from ..choices import check_choice

PACKAGE_DIR = Path(__file__).parent
# when a waiting job's rows may join the running ones: at the next network call, when the
# running batch ends (jobs of equal settings only), or never (one job at a time)
Batching = Literal["step", "job", "none"]
STATIC_DIR = PACKAGE_DIR / "static"  # the web page's build (frontend/), served at / when present


def default_models_dir() -> Path:
    """$PICODIFF_MODELS if set, else ./models (a missing directory just holds no models)."""
    return Path(os.environ.get("PICODIFF_MODELS") or "models")


def default_bundled_roots() -> tuple[Path, ...]:
    return (BUNDLED_MODELS_DIR,) if BUNDLED_MODELS_DIR.is_dir() else ()


BROKER_SCHEMES = ("redis://", "rediss://", "unix://")


def check_broker_url(url: str | None) -> None:
    """ValueError unless `url` is None or a Redis URL."""
    if url is not None and not url.startswith(BROKER_SCHEMES):
        raise ValueError(
            f"the broker must be a Redis URL such as redis://127.0.0.1:6379/0, got {url!r}"
        )


@dataclass(frozen=True)
class ServeConfig:
    """Settings of one server. `create_app(config)` takes one of these or a dict of overrides."""

    models: Path = field(default_factory=default_models_dir)
    bundled_models: tuple[Path, ...] = field(default_factory=default_bundled_roots)
    host: str = "127.0.0.1"
    allowed_hosts: tuple[str, ...] = ()  # more Host / Origin names to answer (serving.origin)
    port: int = 8000
    threads: int = 32  # waitress threads: each waiting (?wait=true) or SSE client holds one
    max_streams: int = 0  # event streams and waits held at once; 0 = threads - 8 (or half)
    client_streams: int = 8  # of those, for one client
    connection_limit: int = 1000  # open connections, idle ones included
    idle_timeout: float = 30.0  # seconds before an idle (or half-sent) connection is closed
    devices: tuple[str, ...] = ()  # one worker each; () = every CUDA device, else the CPU
    max_batch: int = 16  # images sampled at once, across jobs
    batching: Batching = "step"  # when rows may join the running batch (see serving.queue)
    max_n: int = 16  # images per request
    max_steps: int = 1000  # denoising steps per request
    max_body_bytes: int = 16 * 1024
    queue_size: int = 64  # queued jobs before 429
    client_jobs: int = 8  # jobs one client may have waiting or running (its address: twice)
    memory_mb: int = 2048  # budget of the loaded-model cache (parameters and buffers)
    reload_interval: float = 2.0  # seconds between scans of the model roots; 0 = never
    preview_every: int = 0  # steps between preview images; 0 = about 8 per job
    wait_timeout: float = 600.0  # the longest a ?wait=true request blocks
    keep_jobs: int = 256  # finished jobs (and their images) kept for /api/jobs/{id}
    quality_check_every: float = 0.0  # seconds between quality checks of a model; 0 = never
    quality_n: int = 1000  # images per quality check
    rollout: Path | None = None  # the rollout YAML file
    expose_candidates: bool = False  # let clients ask for a rollout's candidate by its name
    # lets a request (Authorization: Bearer TOKEN) cancel any client's job; from the environment
    admin_token: str | None = field(default_factory=lambda: os.environ.get("PICODIFF_ADMIN_TOKEN"))
    trusted_proxy: str | None = None  # a proxy's address whose X-Forwarded-For is believed
    broker: str | None = None  # redis://HOST:PORT/DB: an API replica of a cluster (no models)
    broker_timeout: float = 2.0  # seconds any call to the broker may take
    result_ttl: float = 3600.0  # seconds a finished job's status and images stay in the broker
    static_dir: Path = STATIC_DIR
    log_json: bool = True

    def __post_init__(self) -> None:
        positive = ("max_batch", "max_n", "max_steps", "max_body_bytes", "queue_size", "threads")
        for name in (*positive, "client_streams", "client_jobs", "connection_limit"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.max_streams < self.threads:
            raise ValueError(
                f"max_streams must be in [0, threads) so that short requests keep a thread; "
                f"got {self.max_streams} with threads {self.threads}"
            )
        if self.quality_check_every < 0 or self.quality_n < 2:
            raise ValueError(
                f"quality_check_every must be >= 0 and quality_n >= 2, got "
                f"{self.quality_check_every} and {self.quality_n}"
            )
        check_broker_url(self.broker)
        if self.broker_timeout <= 0 or self.result_ttl < 1:
            raise ValueError(
                f"broker_timeout must be > 0 and result_ttl >= 1 s, got {self.broker_timeout} "
                f"and {self.result_ttl}"
            )
        if self.idle_timeout <= 0:
            raise ValueError(f"idle_timeout must be > 0, got {self.idle_timeout}")
        check_choice("batching", self.batching, Batching)
        if self.memory_mb <= 0:
            raise ValueError(f"memory_mb must be > 0, got {self.memory_mb}")

    @property
    def roots(self) -> tuple[Path, ...]:
        """Where models are looked for, first match of a name wins: the user's, then bundled."""
        return (Path(self.models), *map(Path, self.bundled_models))

    @property
    def stream_limit(self) -> int:
        """Long-lived requests held at once: max_streams, else all threads but 8 (or half)."""
        spare = self.threads - 8 if self.threads > 16 else self.threads // 2
        return self.max_streams or max(1, spare)

    @property
    def memory_budget(self) -> int:
        return int(self.memory_mb * 2**20)

    @classmethod
    def build(cls, config: ServeConfig | Mapping[str, Any] | None) -> ServeConfig:
        """A ServeConfig from None (defaults), a ServeConfig, or a mapping of overrides."""
        if config is None or isinstance(config, ServeConfig):
            return config or cls()
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(f"unknown serve setting(s) {unknown}; known: {sorted(known)}")
        return cls(**config)
