"""Prometheus metrics of one server, in their own registry (several apps can share a process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 60, 120, 300, 600)
STEP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)


class Metrics:
    """Every metric the server exports at GET /metrics."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()

        def counter(name: str, doc: str, *labels: str) -> Counter:
            return Counter(name, doc, labels, registry=registry)

        def gauge(name: str, doc: str, *labels: str) -> Gauge:
            return Gauge(name, doc, labels, registry=registry)

        def histogram(name: str, doc: str, buckets: tuple) -> Histogram:
            return Histogram(name, doc, ["model"], buckets=buckets, registry=registry)

        self.requests = counter(
            "picodiff_http_requests",
            "HTTP requests by route and status",
            "method",
            "route",
            "status",
        )
        self.jobs = counter("picodiff_jobs", "finished jobs by model and status", "model", "status")
        self.load_failures = counter(
            "picodiff_model_load_failures", "models that failed to load or were refused", "model"
        )
        self.range_violations = counter(
            "picodiff_output_range_violations",
            "NaN/inf outputs, or a last-step x0 far outside [-1, 1]",
            "model",
            "kind",
        )
        self.queue_depth = gauge("picodiff_queue_depth", "jobs waiting or running")
        self.queue_capacity = gauge("picodiff_queue_capacity", "jobs that may wait (queue size)")
        self.models = gauge("picodiff_models", "models found, by state", "state")
        self.cache_bytes = gauge("picodiff_model_cache_bytes", "memory held by loaded models")
        self.rollout_percent = gauge(
            "picodiff_rollout_candidate_percent", "traffic share of a rollout's candidate", "alias"
        )
        self.job_latency = histogram(
            "picodiff_job_latency_seconds", "submission to completion of a job", LATENCY_BUCKETS
        )
        self.step_time = histogram(
            "picodiff_denoise_step_seconds", "one denoising step of a running job", STEP_BUCKETS
        )
        self.batch_size = histogram(
            "picodiff_batch_images", "images per network call", BATCH_BUCKETS
        )

        # the cluster (serving.broker): workers' and replicas' view of Redis
        self.worker_images = counter(
            "picodiff_worker_images", "images this worker drew for finished jobs", "model"
        )
        self.reclaimed_jobs = counter(
            "picodiff_reclaimed_jobs", "jobs taken over from a worker that stopped", "model"
        )
        self.broker_errors = Counter(
            "picodiff_broker_errors", "calls to the broker that failed", registry=registry
        )
        self.broker_queue_jobs = gauge(
            "picodiff_broker_queue_jobs", "jobs in Redis no worker has taken yet", "model"
        )
        self.broker_queue_age = gauge(
            "picodiff_broker_queue_age_seconds",
            "age of the oldest job no worker has taken",
            "model",
        )
        self.live_workers = gauge(
            "picodiff_live_workers", "workers with a fresh heartbeat", "model"
        )

        # model health (serving.health): per model and version
        version = ("model", "version")
        self.recorded_fid = gauge("picodiff_recorded_fid", "FID in the model's metadata", *version)
        self.fid_threshold = gauge(
            "picodiff_fid_threshold", "the model's FID limit (its metadata)", *version
        )
        self.quality_fid = gauge(
            "picodiff_quality_fid", "FID of the latest quality check", *version
        )
        self.quality_kid = gauge(
            "picodiff_quality_kid", "KID of the latest quality check", *version
        )
        self.quality_checked = gauge(
            "picodiff_quality_check_timestamp_seconds", "when the latest check ended", *version
        )
        self.output_drift = gauge(
            "picodiff_output_drift",
            "drift of the outputs from the statistics recorded in training (>= 1: beyond)",
            *version,
        )
        self.output_clipped = gauge(
            "picodiff_output_clipped_share", "share of output values at the range ends", *version
        )
        self.output_mean = gauge(
            "picodiff_output_mean", "mean of the outputs per channel", *version, "channel"
        )
        self.output_std = gauge(
            "picodiff_output_std", "std of the outputs per channel", *version, "channel"
        )
        self.noise_rms = gauge(
            "picodiff_predicted_noise_rms",
            "RMS of the predicted noise at the first step at or below t = at * T",
            *version,
            "at",
        )

    def export(self) -> bytes:
        return generate_latest(self.registry)
