"""The multistep solvers against references: diffusers' schedulers of the same methods driven by
the same model function and timesteps, an independent re-statement of iPNDM, the spacings that
diffusers computes, the Gaussian oracle, and batch invariance."""

import json
import subprocess
import sys

import pytest
import torch
from diffusers import (
    DPMSolverMultistepScheduler,
    EulerDiscreteScheduler,
    HeunDiscreteScheduler,
    UniPCMultistepScheduler,
)
from test_samplers import MU, STD, gaussian_oracle
from tiny_models import cpu_threads, tiny_checkpoint

from picodiff.cli import main
from picodiff.diffusion import NoiseSchedule, SamplerSettings, sample, spaced_timesteps
from picodiff.diffusion.samplers import _nearest
from picodiff.sampling import open_checkpoint, sample_images

single_thread = pytest.fixture(scope="module", autouse=True)(cpu_threads)
SCHEDULES = {
    "linear": NoiseSchedule.linear(1000),
    "cosine": NoiseSchedule.cosine(1000),
    "zero-terminal-SNR": NoiseSchedule.linear(1000, zero_terminal_snr=True),
}
# float64, so that both sides agree to rounding even where alpha_bar is ~1e-9 (the cosine
# schedule's start, where an eps model's x0 = (x - sigma eps) / alpha cancels)
X_T = torch.randn(16, 4, 2, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
TOLERANCE = dict(atol=1e-6, rtol=0)


def ours(schedule, sampler, steps, spacing="logsnr", prediction="eps"):
    model = gaussian_oracle(schedule, prediction)
    return sample(
        model,
        schedule,
        X_T.shape,
        sampler=sampler,
        steps=steps,
        spacing=spacing,
        x_T=X_T,
        prediction=prediction,
        clip_x0=False,
    )


def diffusers_loop(scheduler, schedule, timesteps, prediction="eps"):
    """diffusers' sampling loop with our timesteps (and sigma 0 after the last one)."""
    model = gaussian_oracle(schedule, prediction)
    x = X_T.clone()
    for t in scheduler.timesteps:
        t_batch = torch.full((len(x),), int(t), dtype=torch.long)
        x = scheduler.step(model(x, t_batch), t, x).prev_sample
    assert [int(t) for t in scheduler.timesteps] == timesteps
    return x.clamp(-1, 1)


def diffusers_config(schedule, prediction):
    return dict(
        num_train_timesteps=schedule.T,
        trained_betas=schedule.betas.tolist(),
        prediction_type={"eps": "epsilon", "v": "v_prediction", "x0": "sample"}[prediction],
        final_sigmas_type="zero",
        lower_order_final=True,
    )


def with_timesteps(scheduler, schedule, timesteps):
    """Drive a diffusers scheduler through exactly these timesteps, then sigma 0, with the
    schedule's sigmas in float64 (diffusers keeps float32 ones)."""
    scheduler.set_timesteps(len(timesteps))
    ac = schedule.alpha_bars.double()[timesteps]
    scheduler.timesteps = torch.tensor(timesteps)
    scheduler.sigmas = torch.cat([((1 - ac) / ac) ** 0.5, torch.zeros(1, dtype=torch.float64)])
    return scheduler


@pytest.mark.parametrize("prediction", ["eps", "v", "x0"])
@pytest.mark.parametrize("schedule_name", ["linear", "cosine"])
@pytest.mark.parametrize("steps", [5, 10, 20])
def test_dpmpp3m_agrees_with_diffusers(prediction, schedule_name, steps):
    schedule = SCHEDULES[schedule_name]
    timesteps = spaced_timesteps(schedule, steps, "logsnr")
    scheduler = DPMSolverMultistepScheduler(
        **diffusers_config(schedule, prediction), solver_order=3, algorithm_type="dpmsolver++"
    )
    expected = diffusers_loop(
        with_timesteps(scheduler, schedule, timesteps), schedule, timesteps, prediction
    )
    got = ours(schedule, "dpmpp3m", steps, prediction=prediction)
    torch.testing.assert_close(got, expected, **TOLERANCE)


@pytest.mark.parametrize("order", [2, 3])
@pytest.mark.parametrize("prediction", ["eps", "v"])
@pytest.mark.parametrize("schedule_name", ["linear", "cosine"])
@pytest.mark.parametrize("steps", [5, 10, 20])
def test_unipc_agrees_with_diffusers(order, prediction, schedule_name, steps):
    schedule = SCHEDULES[schedule_name]
    timesteps = spaced_timesteps(schedule, steps, "logsnr")
    scheduler = UniPCMultistepScheduler(
        **diffusers_config(schedule, prediction), solver_order=order, solver_type="bh2"
    )
    expected = diffusers_loop(
        with_timesteps(scheduler, schedule, timesteps), schedule, timesteps, prediction
    )
    got = ours(schedule, f"unipc{order}", steps, prediction=prediction)
    torch.testing.assert_close(got, expected, **TOLERANCE)


def test_dpmpp2m_still_agrees_with_diffusers():
    schedule = SCHEDULES["cosine"]
    timesteps = spaced_timesteps(schedule, 12, "logsnr")
    scheduler = DPMSolverMultistepScheduler(
        **diffusers_config(schedule, "eps"), solver_order=2, algorithm_type="dpmsolver++"
    )
    expected = diffusers_loop(with_timesteps(scheduler, schedule, timesteps), schedule, timesteps)
    torch.testing.assert_close(ours(schedule, "dpmpp2m", 12), expected, **TOLERANCE)


@pytest.mark.parametrize("prediction", ["eps", "v"])
@pytest.mark.parametrize("schedule_name", ["linear", "cosine"])
@pytest.mark.parametrize("steps", [5, 10, 20])
def test_dpmpp2m_sde_agrees_with_diffusers(prediction, schedule_name, steps):
    """The same noise: one generator per image in both, drawn once per step (diffusers draws
    it and steps in float32 whatever the input, so the comparison is in float32)."""
    schedule = SCHEDULES[schedule_name]
    timesteps = spaced_timesteps(schedule, steps, "logsnr")
    scheduler = DPMSolverMultistepScheduler(
        **diffusers_config(schedule, prediction), solver_order=2, algorithm_type="sde-dpmsolver++"
    )
    with_timesteps(scheduler, schedule, timesteps)
    model, x = gaussian_oracle(schedule, prediction), X_T.float()
    generators = [torch.Generator().manual_seed(i) for i in range(len(x))]
    for t in scheduler.timesteps:
        t_batch = torch.full((len(x),), int(t), dtype=torch.long)
        x = scheduler.step(model(x, t_batch), t, x, generator=generators).prev_sample
    got = sample(
        model,
        schedule,
        X_T.shape,
        sampler="dpmpp2m-sde",
        steps=steps,
        x_T=X_T.float(),
        prediction=prediction,
        clip_x0=False,
        generator=[torch.Generator().manual_seed(i) for i in range(len(x))],
    )
    torch.testing.assert_close(got, x.clamp(-1, 1), atol=1e-4, rtol=0)


def karras_loop(scheduler, schedule, timesteps, pairs: bool):
    """diffusers' Euler or Heun loop in x~ = x / alpha, on our timesteps' sigmas, then 0
    (Heun visits every timestep after the first twice: its slope at the end of a step)."""
    sigmas = [
        ((1 - float(schedule.alpha_bars[t])) / float(schedule.alpha_bars[t])) ** 0.5
        for t in timesteps
    ]
    scheduler.set_timesteps(len(timesteps))
    sigma = torch.tensor([*sigmas, 0.0], dtype=torch.float64)
    ts = torch.tensor(timesteps, dtype=torch.float32)  # Euler refuses integer timesteps
    if pairs:
        sigma = torch.cat([sigma[:1], sigma[1:-1].repeat_interleave(2), sigma[-1:]])
        ts = torch.cat([ts[:1], ts[1:].repeat_interleave(2)])
    scheduler.sigmas, scheduler.timesteps = sigma, ts
    model = gaussian_oracle(schedule)
    x = X_T * (sigmas[0] ** 2 + 1) ** 0.5
    for t in scheduler.timesteps:
        t_batch = torch.full((len(x),), int(t), dtype=torch.long)
        eps = model(scheduler.scale_model_input(x, t), t_batch)
        x = scheduler.step(eps, t, x).prev_sample
    return x.clamp(-1, 1)


@pytest.mark.parametrize("schedule_name", ["linear", "cosine"])
@pytest.mark.parametrize("steps", [5, 10, 20])
@pytest.mark.parametrize("sampler", ["euler", "heun"])
def test_euler_and_heun_agree_with_diffusers(schedule_name, steps, sampler):
    schedule = SCHEDULES[schedule_name]
    timesteps = spaced_timesteps(schedule, steps, "karras")
    kind = EulerDiscreteScheduler if sampler == "euler" else HeunDiscreteScheduler
    scheduler = kind(num_train_timesteps=1000, trained_betas=schedule.betas.tolist())
    expected = karras_loop(scheduler, schedule, timesteps, pairs=sampler == "heun")
    got = ours(schedule, sampler, steps, "karras")
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)  # float32 timesteps there


def test_heun_calls_the_network_twice_per_step_but_the_last():
    schedule, calls = SCHEDULES["linear"], []

    def model(x, t):
        calls.append(int(t[0]))
        return gaussian_oracle(schedule)(x, t)

    sample(model, schedule, (2, 4, 2, 2), sampler="heun", steps=6)
    ts = spaced_timesteps(schedule, 6, "logsnr")  # the default spacing
    assert calls == [ts[0]] + [t for pair in zip(ts[1:], ts[1:]) for t in pair]


def ipndm_as_written(schedule, timesteps, order=4):
    """zju-pi/diff-sampler's sample_ipndm, in x~ = x / alpha and sigma~ = sigma / alpha."""
    model = gaussian_oracle(schedule)
    abs_ = [float(schedule.alpha_bars[t]) for t in timesteps] + [1.0]
    sigmas = [((1 - ab) / ab) ** 0.5 for ab in abs_]
    x, buffer = X_T / abs_[0] ** 0.5, []
    for i, t in enumerate(timesteps):
        t_batch = torch.full((len(x),), t, dtype=torch.long)
        d = model(x * abs_[i] ** 0.5, t_batch)  # dx~/dsigma~ = eps
        k = min(order, i + 1)
        h = sigmas[i + 1] - sigmas[i]
        if k == 1:
            x = x + h * d
        elif k == 2:
            x = x + h * (3 * d - buffer[-1]) / 2
        elif k == 3:
            x = x + h * (23 * d - 16 * buffer[-1] + 5 * buffer[-2]) / 12
        else:
            x = x + h * (55 * d - 59 * buffer[-1] + 37 * buffer[-2] - 9 * buffer[-3]) / 24
        buffer = [*buffer, d][-(order - 1) :]
    return x.clamp(-1, 1)


@pytest.mark.parametrize("schedule_name", ["linear", "cosine"])
@pytest.mark.parametrize("steps", [5, 10, 20])
def test_ipndm_agrees_with_its_reference_form(schedule_name, steps):
    schedule = SCHEDULES[schedule_name]
    expected = ipndm_as_written(schedule, spaced_timesteps(schedule, steps, "logsnr"))
    torch.testing.assert_close(ours(schedule, "ipndm", steps), expected, **TOLERANCE)


@pytest.mark.parametrize("schedule_name", ["linear", "cosine"])
@pytest.mark.parametrize("steps", [5, 10, 20, 50])
def test_trailing_and_karras_spacings_are_diffusers(schedule_name, steps):
    schedule = SCHEDULES[schedule_name]
    config = dict(num_train_timesteps=1000, trained_betas=schedule.betas.tolist())
    trailing = DPMSolverMultistepScheduler(**config, timestep_spacing="trailing")
    trailing.set_timesteps(steps)
    assert spaced_timesteps(schedule, steps, "trailing") == trailing.timesteps.tolist()
    karras = DPMSolverMultistepScheduler(**config, use_karras_sigmas=True)
    karras.set_timesteps(steps)
    theirs, got = karras.timesteps.tolist(), spaced_timesteps(schedule, steps, "karras")
    # diffusers repeats timesteps where sigma_max is huge (cosine); ours step past repeats
    distinct = theirs[:1]
    for i, t in enumerate(theirs[1:], start=1):
        distinct.append(min(max(t, steps - 1 - i), distinct[-1] - 1))
    assert got == distinct
    if schedule_name == "linear":
        assert got == theirs


@pytest.mark.parametrize("spacing", ["linear", "trailing", "logsnr", "karras"])
@pytest.mark.parametrize("steps", [1, 2, 10, 50, 500, 1000])
def test_every_spacing_gives_distinct_descending_timesteps(spacing, steps):
    for schedule in SCHEDULES.values():
        ts = spaced_timesteps(schedule, steps, spacing)
        assert len(ts) == steps and ts[0] == 999
        assert all(a > b for a, b in zip(ts, ts[1:])) and ts[-1] >= 0


NEW = ["dpmpp3m", "unipc2", "unipc3", "ipndm", "dpmpp2m-sde", "euler", "heun"]


@pytest.mark.parametrize("sampler", NEW)
@pytest.mark.parametrize("prediction", ["v", "x0"])
def test_zero_terminal_snr_models_sample_the_gaussian(sampler, prediction):
    schedule = SCHEDULES["zero-terminal-SNR"]
    steps, low = {"euler": (50, 0.9), "heun": (50, 0.95)}.get(sampler, (20, 0.95))
    x = sample(
        gaussian_oracle(schedule, prediction),
        schedule,
        (3000, 4, 2, 2),
        sampler=sampler,
        steps=steps,
        prediction=prediction,
        generator=torch.Generator().manual_seed(0),
        clip_x0=False,
    )
    assert torch.isfinite(x).all()
    assert torch.allclose(x.mean(dim=(0, 2, 3)), MU.flatten(), atol=0.015)
    ratio = x.std(dim=(0, 2, 3)) / STD.flatten()
    assert bool((ratio > low).all() and (ratio < 1.05).all()), ratio


@pytest.mark.parametrize("sampler", NEW)
def test_an_image_is_the_same_alone_or_in_a_batch(tmp_path, sampler):
    model = open_checkpoint(tiny_checkpoint(tmp_path / "m"))
    settings = SamplerSettings(sampler, 8, spacing="karras")
    batch = sample_images(model, range(8), settings, seed=4)
    alone = sample_images(model, [5], settings, seed=4)
    assert torch.equal(batch[5:6], alone)
    assert not torch.equal(batch[4], batch[5])


def test_the_cli_takes_the_new_samplers_and_spacings(tmp_path, capsys):
    model = tiny_checkpoint(tmp_path / "m")
    args = ["sample", str(model), "--n", "2", "--quiet", "--sampler", "ipndm", "--steps", "4"]
    assert main([*args, "--spacing", "trailing", "--out", str(tmp_path / "s")]) == 0
    manifest = json.loads((tmp_path / "s" / "samples.json").read_text())
    assert (manifest["sampler"], manifest["steps"], manifest["spacing"]) == ("ipndm", 4, "trailing")
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--spacing", "cosine", "--out", str(tmp_path / "t")])
    assert exit_.value.code == 2 and "invalid choice: 'cosine'" in capsys.readouterr().err


@pytest.mark.parametrize("T", [50, 1000])
def test_logsnr_spacing_picks_the_nearest_log_snr_as_a_full_comparison_does(T):
    for schedule in (NoiseSchedule.cosine(T), NoiseSchedule.linear(T=T, zero_terminal_snr=True)):
        lam = 0.5 * (schedule.alpha_bars.log() - (-schedule.alpha_bars).log1p())
        finite = lam[torch.isfinite(lam)]
        for steps in (2, 7, 20, T // 2):
            targets = torch.linspace(float(finite.min()), float(finite.max()), steps).double()
            brute = (lam[None, :] - targets[:, None]).abs().argmin(dim=1).tolist()
            assert _nearest(lam, targets) == brute, (T, steps)


def test_logsnr_spacing_of_a_long_schedule_needs_no_steps_by_T_matrix():
    """T = 100,000 and 1000 steps: a [steps, T] float64 matrix alone would be 800 MB."""
    code = (
        "import resource; from picodiff.diffusion import NoiseSchedule, spaced_timesteps;"
        "s = NoiseSchedule.linear(T=100_000); before = resource.getrusage(0).ru_maxrss;"
        "spaced_timesteps(s, 1000, 'logsnr');"
        "print(resource.getrusage(0).ru_maxrss - before)"
    )
    grown_kib = int(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
    )
    assert grown_kib < 100 * 1024
