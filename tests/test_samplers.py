"""Samplers against exact answers: with Gaussian data x0 ~ N(mu, s^2) the optimal eps is known,
eps*(x_t, t) = sqrt(1 - ab) (x_t - sqrt(ab) mu) / (ab s^2 + 1 - ab), so no training is needed."""

import pytest
import torch

from picodiff.diffusion import NoiseSchedule, SamplingCancelled, sample, spaced_timesteps

MU = torch.tensor([0.3, -0.2, 0.0, 0.1]).reshape(1, 4, 1, 1)
STD = torch.tensor([0.2, 0.25, 0.3, 0.2]).reshape(1, 4, 1, 1)
SHAPE = (3000, 4, 2, 2)


def gaussian_oracle(schedule: NoiseSchedule, prediction: str = "eps"):
    alpha_bars = schedule.alpha_bars.float()

    def model_fn(x_t, t):
        assert t.dtype == torch.int64 and t.shape == (x_t.shape[0],)
        ab = alpha_bars[t].reshape(-1, 1, 1, 1)
        residual = (x_t - ab.sqrt() * MU) / (ab * STD**2 + 1 - ab)
        eps = (1 - ab).sqrt() * residual  # E[eps | x_t]
        x0 = MU + ab.sqrt() * STD**2 * residual  # E[x0 | x_t], finite where alpha_bar = 0
        return {"eps": eps, "x0": x0, "v": ab.sqrt() * eps - (1 - ab).sqrt() * x0}[prediction]

    return model_fn


SCHEDULES = {"linear": NoiseSchedule.linear(1000), "cosine": NoiseSchedule.cosine(1000)}
# DDIM is a first-order ODE solver: with 50 uniform steps it under-disperses small-variance data
# by ~12% in std on the linear schedule (its last step, t = 20 -> 0, is a large jump); the
# closed-form test below checks DDIM exactly.
CASES = [("ddpm", 1000, 0.05), ("ddim", 50, 0.15), ("dpmpp2m", 20, 0.05)]
CASES += [(name, 20, 0.05) for name in ("dpmpp3m", "unipc2", "unipc3", "ipndm", "dpmpp2m-sde")]
# Euler is first order, as DDIM; Heun over-disperses by 4-12% at its default 18 steps
CASES += [("euler", 50, 0.1), ("heun", 35, 0.05)]


@pytest.mark.parametrize("schedule_name", SCHEDULES)
@pytest.mark.parametrize(("method", "steps", "std_tolerance"), CASES)
def test_gaussian_oracle_reproduces_mean_and_variance(schedule_name, method, steps, std_tolerance):
    schedule = SCHEDULES[schedule_name]
    x = sample(
        gaussian_oracle(schedule),
        schedule,
        SHAPE,
        sampler=method,
        steps=steps,
        generator=torch.Generator().manual_seed(0),
        clip_x0=False,
    )
    mean, std = x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3))
    assert torch.allclose(mean, MU.flatten(), atol=0.015)
    ratio = std / STD.flatten()
    assert bool((ratio > 1 - std_tolerance).all() and (ratio < 1.05).all()), ratio


def test_ddim_equals_its_closed_form_for_gaussian_data():
    """DDIM (eta = 0) is linear in x for Gaussian data: each step maps x - sqrt(ab) mu by
    k = (sqrt(ab_next ab) s^2 + sqrt((1 - ab_next)(1 - ab))) / (ab s^2 + 1 - ab)."""
    schedule = SCHEDULES["linear"]
    x_T = torch.randn(8, 4, 2, 2, generator=torch.Generator().manual_seed(1))
    got = sample(
        gaussian_oracle(schedule),
        schedule,
        x_T.shape,
        sampler="ddim",
        steps=25,
        x_T=x_T,
        clip_x0=False,
    )
    ts = spaced_timesteps(schedule, 25)
    abs_ = [schedule.alpha_bars[t].item() for t in ts] + [1.0]
    s2 = STD.double() ** 2
    gain = torch.ones_like(s2)
    for ab, ab_next in zip(abs_, abs_[1:]):
        gain = (
            gain
            * ((ab_next * ab) ** 0.5 * s2 + ((1 - ab_next) * (1 - ab)) ** 0.5)
            / (ab * s2 + 1 - ab)
        )
    expected = MU + gain * (x_T - abs_[0] ** 0.5 * MU)
    assert torch.allclose(got, expected.float().clamp(-1, 1), atol=1e-4)


@pytest.mark.parametrize("prediction", ["v", "x0"])
@pytest.mark.parametrize("method", ["ddpm", "ddim", "dpmpp2m"])
def test_other_parameterisations_give_the_same_samples(prediction, method):
    schedule = SCHEDULES["cosine"]
    kwargs = dict(sampler=method, steps=30, clip_x0=False, eta=0.5 if method == "ddim" else 0.0)
    a = sample(
        gaussian_oracle(schedule),
        schedule,
        (64, 4, 2, 2),
        generator=torch.Generator().manual_seed(2),
        **kwargs,
    )
    b = sample(
        gaussian_oracle(schedule, prediction),
        schedule,
        (64, 4, 2, 2),
        generator=torch.Generator().manual_seed(2),
        prediction=prediction,
        **kwargs,
    )
    assert torch.allclose(a, b, atol=1e-3)


def test_zero_terminal_snr_needs_v_or_x0_and_then_works():
    schedule = NoiseSchedule.linear(1000, zero_terminal_snr=True)
    with pytest.raises(ValueError, match="prediction 'v' or 'x0'"):
        sample(gaussian_oracle(schedule), schedule, SHAPE)
    for prediction in ("v", "x0"):
        x = sample(
            gaussian_oracle(schedule, prediction),
            schedule,
            SHAPE,
            sampler="dpmpp2m",
            prediction=prediction,
            generator=torch.Generator().manual_seed(0),
            clip_x0=False,
        )
        assert torch.isfinite(x).all()
        assert torch.allclose(x.mean(dim=(0, 2, 3)), MU.flatten(), atol=0.015)
        assert torch.allclose(x.std(dim=(0, 2, 3)), STD.flatten(), rtol=0.06)


@pytest.mark.parametrize("method", ["ddpm", "ddim", "dpmpp2m"])
def test_same_seed_same_output_and_per_row_generators(method):
    schedule = SCHEDULES["linear"]
    model = gaussian_oracle(schedule)
    kwargs = dict(sampler=method, steps=20, eta=1.0 if method == "ddim" else 0.0)

    def run(gen, n=4):
        return sample(model, schedule, (n, 4, 2, 2), generator=gen, **kwargs)

    a = run(torch.Generator().manual_seed(5))
    assert torch.equal(a, run(torch.Generator().manual_seed(5)))
    assert not torch.equal(a, run(torch.Generator().manual_seed(6)))
    # one generator per row: a row does not depend on the batch it is drawn in
    batch = run([torch.Generator().manual_seed(s) for s in (10, 11, 12, 13)])
    alone = run([torch.Generator().manual_seed(12)], n=1)
    assert torch.allclose(batch[2:3], alone, atol=1e-6)


def test_callback_sees_every_step_and_can_cancel():
    schedule = SCHEDULES["linear"]
    calls, model_calls = [], []

    def model(x, t):
        model_calls.append(int(t[0]))
        return gaussian_oracle(schedule)(x, t)

    def callback(i, total, x_t, x0):
        calls.append((i, total, tuple(x_t.shape), tuple(x0.shape)))

    sample(model, schedule, (2, 4, 2, 2), sampler="ddim", steps=12, callback=callback)
    assert [c[0] for c in calls] == list(range(12)) and {c[1] for c in calls} == {12}
    assert model_calls == spaced_timesteps(schedule, 12)
    assert calls[0][2:] == ((2, 4, 2, 2), (2, 4, 2, 2))

    model_calls.clear()
    with pytest.raises(SamplingCancelled) as info:
        sample(
            model,
            schedule,
            (2, 4, 2, 2),
            sampler="dpmpp2m",
            steps=12,
            callback=lambda i, total, x, x0: i < 3,
        )
    assert info.value.step == 3 and len(model_calls) == 4


def test_output_is_clipped_and_steps_validated():
    schedule = SCHEDULES["linear"]
    x = sample(lambda x, t: -x, schedule, (8, 1, 4, 4), sampler="ddim", steps=5)
    assert x.min() >= -1 and x.max() <= 1
    with pytest.raises(ValueError, match="steps must be at most the model's T = 1000, got 1001"):
        sample(lambda x, t: x, schedule, (1, 1, 2, 2), sampler="ddim", steps=1001)
    with pytest.raises(ValueError, match="sampler must be one of"):
        sample(lambda x, t: x, schedule, (1, 1, 2, 2), sampler="lms")
    with pytest.raises(ValueError, match="eta applies to the ddim sampler only, not ddpm"):
        sample(lambda x, t: x, schedule, (1, 1, 2, 2), sampler="ddpm", steps=5, eta=0.5)
    gen = torch.Generator().manual_seed
    new = sample(lambda x, t: -x, schedule, (8, 1, 4, 4), sampler="ddim", generator=gen(0))
    with pytest.warns(FutureWarning, match="'method' is now 'sampler'"):  # the old keyword
        old = sample(lambda x, t: -x, schedule, (8, 1, 4, 4), method="ddim", generator=gen(0))
    assert torch.equal(old, new)
    with pytest.raises(ValueError, match="x_T has shape"):
        sample(lambda x, t: x, schedule, (1, 1, 2, 2), x_T=torch.zeros(2, 1, 2, 2))


@pytest.mark.parametrize("spacing", ["linear", "logsnr"])
@pytest.mark.parametrize("steps", [1, 2, 10, 50, 500, 1000])
def test_spaced_timesteps_are_distinct_and_span_the_range(spacing, steps):
    ts = spaced_timesteps(SCHEDULES["linear"], steps, spacing)
    assert len(ts) == steps and ts[0] == 999
    assert all(a > b for a, b in zip(ts, ts[1:]))
    if steps > 1:
        assert ts[-1] == 0


def test_respaced_ddpm_uses_fewer_model_calls_and_stays_accurate():
    schedule = SCHEDULES["cosine"]
    seen = []

    def model(x, t):
        seen.append(int(t[0]))
        return gaussian_oracle(schedule)(x, t)

    x = sample(
        model,
        schedule,
        SHAPE,
        sampler="ddpm",
        steps=250,
        variance="beta",
        generator=torch.Generator().manual_seed(0),
        clip_x0=False,
    )
    assert len(seen) == 250
    assert torch.allclose(x.std(dim=(0, 2, 3)), STD.flatten(), rtol=0.08)


def test_image_generators_depend_only_on_seed_and_index():
    from picodiff.diffusion import image_generators

    def first_draw(gens):
        return [torch.randn(3, generator=g) for g in gens]

    a = first_draw(image_generators(7, range(8)))
    b = first_draw(image_generators(7, [5, 6, 7]))
    assert all(torch.equal(x, y) for x, y in zip(a[5:], b))
    c = first_draw(image_generators(8, range(8)))
    assert not any(torch.equal(x, y) for x, y in zip(a, c))
    assert len({tuple(x.tolist()) for x in a}) == 8
