"""The training loop: data, loss, backward, clip, step, EMA, log, validate, checkpoint.

Single process or DDP under torchrun (only rank 0 writes). Every step's batch, timesteps and
noise derive from (seed, step), so a run resumed from a checkpoint continues exactly as an
uninterrupted one would.
"""

from __future__ import annotations

import contextlib
import functools
import math
import signal
import sys
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from ..checkpoint import Checkpoint, load_checkpoint, load_weights
from ..data import ImageStore
from ..data.labels import class_labels
from ..data.texts import cached_embeddings, row_texts
from ..diffusion import SamplerSettings, diffusion_loss
from ..diffusion.superres import degrade
from ..distributed import Distributed, pick_device
from ..errors import UserError
from ..models import UNet, UNetConfig
from ..models.conditioning import ClassConditioning, Conditioning, TextConditioning
from ..pixels import make_grid, save_png, to_uint8
from ..provenance import provenance
from ..sampling import resolve_checkpoint_dir, sample_images
from ..sampling.monitor import BatchStats, NoiseProbe, summarize
from ..text_encoder import text_encoder
from .batches import BatchPlan, derive_seed
from .conditions import ClassRows, TextRows
from .config import (
    TrainConfig,
    build_schedule,
    build_unet_config,
    make_conditioning,
    save_config,
)
from .ema import EMA
from .fid_monitor import FidMonitor
from .plan import available_bytes, plan_memory
from .plot import plot_losses
from .rundir import RunDir
from .validation import Validator

POSTFIX = {"train_loss": "loss", "val_loss": "val", "fid": "fid"}  # metric -> progress bar name


@dataclass
class TrainingProgress:
    """Where a run stands: what a checkpoint's training state restores."""

    step: int = 0
    best_val_loss: float = math.inf
    bad_validations: int = 0  # checks of the best_by metric in a row without improvement
    best_fid: float = math.inf
    train_seconds: float = 0.0  # time spent in training steps, across resumes


class Trainer:
    """Builds everything from a TrainConfig and checks the inputs before any work is done."""

    def __init__(self, config: TrainConfig, out, resume: bool = False):
        self.cfg = config
        self.run = RunDir(out)
        self.device = pick_device(config.device)
        self.dist = Distributed.from_env(self.device)
        self.store = ImageStore(config.data, "train")
        self.conditioning, self.conditions = self._conditions()
        self.unet_config = build_unet_config(config, self.store, **self._conditional_network())
        self.schedule = build_schedule(config)
        self.superres = make_conditioning(config, self.schedule)
        self.validator = self._make_validator()
        self._drawn: tuple[int, list, dict] | None = None  # (step, grid rows, their stats)
        self.fid = FidMonitor(config, self.store.channels) if config.fid_every else None
        self._check_parallel_split()
        self._check_memory()
        self.plan = BatchPlan(len(self.store), config.batch_size, config.seed)
        self.total_steps = total_steps(config, self.plan.steps_per_epoch)
        if self.dist.is_main:
            self.run.check_start(resume)
        torch.manual_seed(derive_seed(config.seed, 0))  # the initial weights
        self.model = UNet(self.unet_config).to(self.device)
        if isinstance(self.conditions, TextRows):
            self.model.set_null_text(self.conditions.null())
        self.eval_model = UNet(self.unet_config.replace(gradient_checkpointing=False)).to(
            self.device
        )
        if config.init and not resume:
            self._start_from(config.init)
        self.optimizer = make_optimizer(config, self.model)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=config.precision == "fp16")
        self.ema = EMA(self.model, config.ema_decay, config.ema_warmup)
        self.progress = TrainingProgress()
        if resume:
            self._restore()
        self.net = self._wrap(self.model)
        self.interrupted = False
        self._postfix: dict[str, str] = {}
        interval = config.checkpoint_every_minutes * 60
        self._timed_checkpoints = int(self.progress.train_seconds // interval) if interval else 0

    # --- the loop -----------------------------------------------------------------------------
    def fit(self) -> TrainingProgress:
        cfg, main = self.cfg, self.dist.is_main
        if main:
            self.run.path.mkdir(parents=True, exist_ok=True)
            save_config(cfg, self.run.config_file)
            if cfg.tensorboard:
                self.run.open_tensorboard()
        val_every = cfg.val_every or self.plan.steps_per_epoch
        ckpt_every = cfg.checkpoint_every or val_every
        sample_every = cfg.sample_every or ckpt_every
        bar = tqdm(
            total=self.total_steps if self.total_steps < UNBOUNDED else None,
            initial=self.progress.step,
            unit="step",
            disable=not main,
            dynamic_ncols=True,
        )
        window, tic, stop = [], time.perf_counter(), None
        with self._signals_stop_cleanly():
            for step in range(self.progress.step, self.total_steps):
                began = time.perf_counter()
                window.append(self.train_step(step))
                self.progress.train_seconds += time.perf_counter() - began
                self.progress.step = done = step + 1
                bar.update(1)
                timed_checkpoint, out_of_time = self._clock()
                last = done == self.total_steps or out_of_time
                if done % cfg.log_every == 0 or last:
                    self._log_train(window, time.perf_counter() - tic, bar)
                    window, tic = [], time.perf_counter()
                if done % val_every == 0 or last:
                    stop = self._validate(bar) or stop
                if self.fid and (done % cfg.fid_every == 0 or last):
                    stop = self._measure_fid(bar) or stop
                if done % ckpt_every == 0 or last or timed_checkpoint or stop or self.interrupted:
                    self._save()
                if main and (done % sample_every == 0 or last):
                    self._sample_grid()
                if stop or self.interrupted or out_of_time:
                    stop = stop or ("out of time" if out_of_time else None)
                    break
        bar.close()
        if main:
            why = stop or ("interrupted" if self.interrupted else "finished")
            fid = f"; best FID {self.progress.best_fid:.3f}" if self.fid else ""
            print(
                f"{why} at step {self.progress.step}; best validation loss "
                f"{self.progress.best_val_loss:.5f}{fid}; run in {self.run.path}"
            )
        self.dist.close()
        return self.progress

    def _clock(self) -> tuple[bool, bool]:
        """(a timed checkpoint is due, the max_minutes budget is spent), as every process sees
        it (the slowest one's clock), so that they stop and save together."""
        cfg, p = self.cfg, self.progress
        if not cfg.max_minutes and not cfg.checkpoint_every_minutes:
            return False, False
        seconds = self.dist.all_max(p.train_seconds)
        interval = cfg.checkpoint_every_minutes * 60
        due = bool(interval) and seconds // interval > self._timed_checkpoints
        if due:
            self._timed_checkpoints = int(seconds // interval)
        return due, bool(cfg.max_minutes) and seconds >= cfg.max_minutes * 60

    def train_step(self, step: int) -> float:
        """One optimizer step over the global batch (this process's share, in micro-batches)."""
        cfg, world, rank = self.cfg, self.dist.world_size, self.dist.rank
        gen, rows = self.plan.generator(step), self.plan.indices(step)
        t = torch.randint(0, self.schedule.T, (cfg.batch_size,), generator=gen)
        noise = torch.randn((cfg.batch_size, *self.image_shape), generator=gen)
        flips = torch.rand(cfg.batch_size, generator=gen) < 0.5
        if self.superres:
            levels, aug_noise = self.superres.draw(gen, cfg.batch_size, self.image_shape[0])
        if self.conditions is not None:  # the null condition for a share cond_drop
            dropped = torch.rand(cfg.batch_size, generator=gen) < cfg.cond_drop
            conditions = self.conditions.draw(rows, dropped, gen)
        torch.manual_seed(derive_seed(cfg.seed, 3, step, rank))  # dropout
        self._set_lr(step)
        self.model.train()
        micro = cfg.batch_size // (world * cfg.grad_accum)
        total = 0.0
        for m in range(cfg.grad_accum):
            part = slice((m * world + rank) * micro, (m * world + rank + 1) * micro)
            x0 = self.store.batch(rows[part].tolist())
            if cfg.hflip:
                x0 = torch.where(flips[part, None, None, None], x0.flip(-1), x0)
            x0, net = x0.to(self.device), self.net
            if self.superres:
                extra = self.superres.inputs(x0, levels[part], aug_noise[part])
                net = functools.partial(net, **{k: v.to(self.device) for k, v in extra.items()})
            if self.conditions is not None:
                given = {k: v[part].to(self.device) for k, v in conditions.items()}
                net = functools.partial(net, **given)
            sync = m == cfg.grad_accum - 1 or not self.dist.enabled
            with contextlib.nullcontext() if sync else self.net.no_sync(), self._autocast():
                loss = diffusion_loss(
                    net,
                    self.schedule,
                    x0,
                    t=t[part].to(self.device),
                    noise=noise[part].to(self.device),
                    prediction=cfg.prediction,
                    min_snr_gamma=cfg.min_snr_gamma,
                )
                loss = loss / cfg.grad_accum  # the mean over the accumulated micro-batches
            self.scaler.scale(loss).backward()
            total += float(loss.detach())
        self._optimizer_step()
        return total

    # --- pieces of a step ---------------------------------------------------------------------
    @property
    def image_shape(self) -> tuple[int, int, int]:
        c = self.unet_config
        return (c.image_channels, c.image_size, c.image_size)

    def _optimizer_step(self) -> None:
        self.scaler.unscale_(self.optimizer)
        if self.cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.ema.update(self.model)

    def _set_lr(self, step: int) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(self.cfg, step, self.total_steps)

    def _autocast(self):
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.cfg.precision)
        return torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None)

    # --- evaluation, logging, checkpoints -----------------------------------------------------
    def _ema_model(self) -> UNet:
        self.eval_model.load_state_dict(self.ema.state_dict())
        return self.eval_model.eval()

    def _validate(self, bar) -> str | None:
        """Validation loss of the EMA weights; returns a reason to stop, if any."""
        if self.validator is None:
            return None
        loss = self.validator.loss(
            self._ema_model(), self.cfg.prediction, self.cfg.batch_size, self._autocast
        )
        stop = self._consider("val_loss", loss)
        self._record({"val_loss": loss, "best_val_loss": self.progress.best_val_loss}, bar)
        return stop

    def _measure_fid(self, bar) -> str | None:
        """FID of the EMA weights (every process computes it: they must agree on stopping)."""
        assert self.fid is not None
        ema = self._ema_checkpoint()
        measured = self.fid.measure(ema)
        stop = self._consider("fid", measured["fid"])
        self._record({**measured, "best_fid": self.progress.best_fid}, bar)
        return stop

    def _consider(self, metric: str, value: float) -> str | None:
        """Track the best value of `metric`; when it is the run's best_by, save `best` on an
        improvement and return a reason to stop after `patience` checks without one."""
        p, cfg = self.progress, self.cfg
        chosen = metric == cfg.best_by
        best = getattr(p, f"best_{metric}")
        improved = value < best - (cfg.min_delta if chosen else 0.0)
        if improved:
            setattr(p, f"best_{metric}", value)
        if not chosen:
            return None
        p.bad_validations = 0 if improved else p.bad_validations + 1
        if improved and self.dist.is_main:
            self.run.save_best(**self._checkpoint_contents())
        if cfg.patience and p.bad_validations >= cfg.patience:
            checks = "validations" if metric == "val_loss" else "FID checks"
            return f"early stopping ({p.bad_validations} {checks} without improvement)"
        return None

    def _record(self, values: dict, bar) -> None:
        """A metrics.jsonl record of this step, the chart redrawn and the bar's postfix."""
        if not self.dist.is_main:
            return
        p = self.progress
        self.run.append_metrics({"step": p.step, "epoch": self.plan.epoch_of(p.step - 1), **values})
        self._plot()
        for key, short in POSTFIX.items():
            if key in values:
                self._postfix[short] = f"{values[key]:.4f}"
        bar.set_postfix(self._postfix, refresh=False)

    def _log_train(self, window: list[float], seconds: float, bar) -> None:
        loss = self.dist.all_mean(sum(window) / len(window))
        record = {
            "train_loss": loss,
            "lr": self.optimizer.param_groups[0]["lr"],
            "images_per_s": len(window) * self.cfg.batch_size / max(seconds, 1e-9),
            "memory_mb": peak_memory_mb(self.device),
        }
        self._record(record, bar)

    def _plot(self) -> None:
        series = self.run.series
        losses = {k: series[k] for k in ("train_loss", "val_loss")}
        plot_losses(
            losses, self.run.loss_plot, fid={"fid": series["fid"]} if series["fid"] else None
        )

    def _sample_grid(self) -> None:
        """A grid from the EMA weights and a fixed seed; for super-resolution, rows of
        (bicubic upsampling of the input, the model's output, the original)."""
        rows, stats = self._samples()
        grid = make_grid(to_uint8(torch.cat([r.cpu() for r in rows])), ncols=len(rows[0]))
        made = provenance(
            model=f"{self.run.path.name}/step-{self.progress.step:07d}",
            sampler=stats["sampler"],
            steps=stats["steps"],
            seed=self.cfg.seed,
            index=0,
            count=len(rows[0]),
            ema=True,
        )
        save_png(self.run.samples / f"step-{self.progress.step:07d}.png", grid, made)

    def _samples(self) -> tuple[list[torch.Tensor], dict]:
        """The grid's rows and the statistics of the drawn images (see
        `picodiff.sampling.monitor`; the server compares its outputs with them), drawn once
        per step from the EMA weights: the grid and the checkpoint saved at a step share them."""
        if self._drawn is None or self._drawn[0] != self.progress.step:
            self._drawn = (self.progress.step, *self._draw_samples())
        return self._drawn[1], self._drawn[2]

    def _draw_samples(self) -> tuple[list[torch.Tensor], dict]:
        cfg = self.cfg
        ema = self._ema_checkpoint()
        settings = SamplerSettings(cfg.sample_method, cfg.sample_steps)  # type: ignore[arg-type]
        probe = NoiseProbe()
        if not self.superres:
            conditions = {}
            if self.conditions is not None:  # a few conditions in turn, guided
                grid = self.conditions.grid(cfg.sample_n)
                conditions = {**grid, "guidance": cfg.sample_guidance}
            drawn = sample_images(
                ema, range(cfg.sample_n), settings, seed=cfg.seed, observe=probe, **conditions
            )
            rows = [drawn]
        else:
            # the first sample_n validation (else training) images, or as many as there are
            if self.validator:
                truth = self.validator.x0[: cfg.sample_n]
            else:
                truth = self.store.batch(range(min(cfg.sample_n, len(self.store))))
            low = degrade(truth, cfg.low_res)  # type: ignore[arg-type]
            size = self.unet_config.image_size
            bicubic = F.interpolate(low, size=(size, size), mode="bicubic")
            drawn = sample_images(
                ema,
                range(len(truth)),
                settings,
                seed=cfg.seed,
                low_res=low,
                aug_level=cfg.sample_aug,
                observe=probe,
            )
            rows = [bicubic, drawn, truth]
        stats = summarize([BatchStats.of(drawn.cpu(), probe)])
        resolved = settings.resolve(self.schedule.T)
        return rows, {**stats, "sampler": resolved.sampler, "steps": resolved.steps}  # type: ignore

    def _metadata(self) -> dict:
        p, cfg = self.progress, self.cfg
        metadata = {
            "step": p.step,
            "epoch": self.plan.epoch_of(max(p.step - 1, 0)),
            "best_val_loss": p.best_val_loss if math.isfinite(p.best_val_loss) else None,
            "best_fid": p.best_fid if math.isfinite(p.best_fid) else None,
            "images_seen": p.step * cfg.batch_size,
            "train_seconds": round(p.train_seconds, 1),
            "train_config": cfg.to_dict(),
            "data": {k: self.store.meta.get(k) for k in ("source", "size", "channels")},
            "licences": self.store.meta.get("licences") or [],  # the images' licences
            # what the server's quality checks compare with, and its outputs' statistics
            "reference": str(self.store.path.resolve()),
            "output_stats": self._samples()[1],
        }
        if self.superres:
            metadata["superres"] = {
                "low_res": cfg.low_res,
                "aug_max": cfg.aug_max,
                "sample_aug": cfg.sample_aug,
            }
        return metadata

    def _checkpoint_contents(self) -> dict:
        return dict(
            model=self.model,
            schedule=self.schedule,
            prediction=self.cfg.prediction,
            ema_state=self.ema.state_dict(),
            metadata=self._metadata(),
            conditioning=self.conditioning,
        )

    def _save(self) -> None:
        if not self.dist.is_main:
            return
        p = self.progress
        state = {
            "step": p.step,
            "best_val_loss": p.best_val_loss,
            "bad_validations": p.bad_validations,
            "best_fid": p.best_fid,
            "train_seconds": p.train_seconds,
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "ema_updates": self.ema.updates,
            "world_size": self.dist.world_size,
        }
        self.run.save(p.step, self.cfg.keep_last, state, **self._checkpoint_contents())

    def _restore(self) -> None:
        config, weights, ema, state = self.run.load_last()
        if UNetConfig.from_dict(config["model"]) != self.unet_config:
            raise UserError(f"{self.run.last}: its network differs from this run's config")
        load_weights(self.model, weights, self.run.last)
        self.ema.load_state_dict(ema if ema is not None else weights, state["ema_updates"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self.progress = TrainingProgress(
            state["step"],
            state["best_val_loss"],
            state["bad_validations"],
            state.get("best_fid", math.inf),  # runs of releases without FID during training
            state.get("train_seconds", 0.0),
        )
        if self.dist.is_main:
            self.run.truncate_metrics(self.progress.step)
            print(f"resuming {self.run.path} at step {self.progress.step}")

    # --- set-up -------------------------------------------------------------------------------
    def _start_from(self, model: str) -> None:
        """Take another model's weights (its EMA ones) as this run's first weights."""
        source = resolve_checkpoint_dir(model)
        start = load_checkpoint(source)
        ours = self.unet_config.to_dict()
        training_only = ("dropout", "gradient_checkpointing")  # a run may choose its own
        theirs = start.config.replace(**{k: ours[k] for k in training_only}).to_dict()
        if theirs != ours:
            differ = sorted(k for k, v in theirs.items() if ours.get(k) != v)
            raise UserError(
                f"--init {model}: its network differs from this run's in {', '.join(differ)} "
                "(start from the same preset and options it was trained with)"
            )
        meanings = _meaning(start.conditioning), _meaning(self.conditioning)
        if meanings[0] != meanings[1]:
            kinds = [c["kind"] if c else "none" for c in meanings]
            what = {"class": "class labels", "text": "text encoder"}[kinds[0]]
            differ = f"a {kinds[0]} model, this run {kinds[1]}" if len(set(kinds)) > 1 else what
            raise UserError(f"--init {model}: its conditioning differs ({differ})")
        load_weights(self.model, start.model.state_dict(), source)
        if self.dist.is_main:
            print(f"starting from the weights of {source}")

    def _conditions(self) -> tuple[Conditioning | None, ClassRows | TextRows | None]:
        """A conditional run's conditioning and each training row's conditions."""
        cfg = self.cfg
        if cfg.condition == "class":
            names, field, rows = class_labels(self.store, cfg.label_field)
            return ClassConditioning(names, field), ClassRows(torch.from_numpy(rows), len(names))
        if cfg.condition == "text":
            fields = tuple(f.strip() for f in (cfg.text_field or "").split(",") if f.strip())
            texts = row_texts(self.store, fields)
            encoder = text_encoder(cfg.text_encoder, cfg.text_tokens)
            table = cached_embeddings(self.store, (*texts.texts, ""), encoder)
            conditioning = TextConditioning(encoder.name, encoder.key, encoder.tokens, texts.fields)
            return conditioning, TextRows(texts, table)
        return None, None

    def _conditional_network(self) -> dict[str, int]:
        if isinstance(self.conditions, ClassRows):
            return {"num_classes": self.conditions.classes}
        if isinstance(self.conditions, TextRows):
            return {"text_dim": int(self.conditions.table.embedding.pooled.shape[1])}
        return {}

    def _ema_checkpoint(self) -> Checkpoint:
        model = self._ema_model()
        return Checkpoint(model, self.schedule, self.cfg.prediction, conditioning=self.conditioning)

    def _make_validator(self) -> Validator | None:
        counts = self.store.meta["splits"]
        if counts.get("val", {}).get("count", 0) == 0:
            if self.cfg.patience and self.cfg.best_by == "val_loss":
                raise UserError(
                    "early stopping (patience) on the validation loss needs a validation split; "
                    "the store has none"
                )
            return None
        val = ImageStore(self.cfg.data, "val")
        return Validator(val, self.schedule, self.cfg.val_size, self.cfg.seed, self.superres)

    def _check_parallel_split(self) -> None:
        parts = self.dist.world_size * self.cfg.grad_accum
        if self.cfg.batch_size % parts:
            raise UserError(
                f"batch_size {self.cfg.batch_size} must split evenly over {self.dist.world_size} "
                f"process(es) x {self.cfg.grad_accum} accumulation step(s)"
            )
        if self.cfg.precision == "fp16" and self.device.type != "cuda":
            raise UserError("precision fp16 needs a CUDA device; use bf16 on CPU")

    def _check_memory(self) -> None:
        """Refuse a batch that cannot fit before doing any work (see `picodiff train --plan`)."""
        cfg = self.cfg
        precision = "fp32" if cfg.precision == "fp32" else "bf16"
        mode = (precision, cfg.gradient_checkpointing)
        micro = cfg.batch_size // (self.dist.world_size * cfg.grad_accum)
        need = plan_memory(self.unet_config, modes=[mode]).step_bytes(micro, *mode)
        free = available_bytes(self.device)
        if need > free:
            raise UserError(
                f"a micro-batch of {micro} needs about {need / 2**30:.1f} GiB but "
                f"{self.device} has {free / 2**30:.1f} GiB free; lower batch_size, raise "
                "grad_accum, or set gradient_checkpointing=true / precision=bf16 "
                "(picodiff train ... --plan shows the options)"
            )

    def _wrap(self, model: UNet):
        net = model
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            net = DistributedDataParallel(model, device_ids=ids)
        return torch.compile(net) if self.cfg.compile else net

    @contextlib.contextmanager
    def _signals_stop_cleanly(self):
        """Ctrl-C / SIGTERM finish the current step, save a checkpoint and stop."""

        def handler(signum, frame):
            self.interrupted = True

        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)


def _meaning(conditioning: Conditioning | None) -> dict | None:
    """What a network's conditions mean (not which store field they were read from)."""
    if conditioning is None:
        return None
    return {k: v for k, v in conditioning.to_dict().items() if k not in ("field", "fields")}


def make_optimizer(cfg: TrainConfig, model: UNet) -> torch.optim.Optimizer:
    kind = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    return kind(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


def learning_rate(cfg: TrainConfig, step: int, total: int) -> float:
    """Linear warm-up over warmup_steps, then constant or cosine decay to zero."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.lr_schedule == "constant":
        return cfg.lr
    progress = (step - cfg.warmup_steps) / max(total - cfg.warmup_steps, 1)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * progress))


UNBOUNDED = sys.maxsize  # the steps of a run bounded by time alone


def total_steps(cfg: TrainConfig, steps_per_epoch: int) -> int:
    limits = [cfg.max_steps] if cfg.max_steps is not None else []
    if cfg.epochs is not None:
        limits.append(cfg.epochs * steps_per_epoch)
    return min(limits, default=UNBOUNDED)


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
