import math
import warnings

import pytest
import torch

from picodiff.diffusion import NoiseSchedule, TerminalSNRWarning

CONSTRUCTORS = {
    "linear": lambda T, **kw: NoiseSchedule.linear(T, **kw),
    "cosine": lambda T, **kw: NoiseSchedule.cosine(T, **kw),
    "quadratic": lambda T, **kw: NoiseSchedule.quadratic(T, **kw),
    "sigmoid": lambda T, **kw: NoiseSchedule.sigmoid(T, **kw),
}


def test_linear_matches_ho_et_al():
    s = NoiseSchedule.linear(1000)
    assert s.T == 1000 and s.betas.dtype == torch.float64
    assert s.betas[0].item() == pytest.approx(1e-4) and s.betas[-1].item() == pytest.approx(0.02)
    assert torch.allclose(
        s.betas[1:] - s.betas[:-1], torch.full((999,), (0.02 - 1e-4) / 999, dtype=torch.float64)
    )
    assert torch.allclose(s.alphas, 1 - s.betas)
    expected = 1.0
    for t in range(1000):
        expected *= 1 - (1e-4 + (0.02 - 1e-4) * t / 999)
    assert s.alpha_bars[-1].item() == pytest.approx(expected, rel=1e-9)


def test_quadratic_formula():
    s = NoiseSchedule.quadratic(50, beta_start=1e-3, beta_end=0.04)
    roots = [math.sqrt(1e-3) + (math.sqrt(0.04) - math.sqrt(1e-3)) * i / 49 for i in range(50)]
    assert torch.allclose(s.betas, torch.tensor([r * r for r in roots], dtype=torch.float64))


def test_cosine_alpha_bar_is_the_papers_formula():
    T, s_ = 1000, 0.008
    s = NoiseSchedule.cosine(T)

    def f(t):
        return math.cos((t / T + s_) / (1 + s_) * math.pi / 2) ** 2

    for t in (0, 1, 10, 250, 500, 900):  # unclipped region: alpha_bar_t = f(t + 1) / f(0)
        assert s.alpha_bars[t].item() == pytest.approx(f(t + 1) / f(0), rel=1e-9)
    assert s.betas.max().item() == pytest.approx(0.999)


def test_sigmoid_alpha_bar_is_chens_formula():
    T = 200
    s = NoiseSchedule.sigmoid(T, start=-3, end=3, tau=1)

    def sig(x):
        return 1 / (1 + math.exp(-x))

    def gamma(u):
        return (sig(3) - sig(u * 6 - 3)) / (sig(3) - sig(-3))

    for t in (0, 5, 50, 150):
        assert s.alpha_bars[t].item() == pytest.approx(gamma((t + 1) / T), rel=1e-9)
    assert s.betas.max().item() <= 0.999 + 1e-12


@pytest.mark.parametrize("name", CONSTRUCTORS)
@pytest.mark.parametrize("T", [10, 500, 1000])
def test_alpha_bar_monotone_in_unit_interval(name, T):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TerminalSNRWarning)
        s = CONSTRUCTORS[name](T)
    ab = s.alpha_bars
    assert len(s.betas) == len(s.alphas) == len(ab) == T
    assert bool((ab > 0).all()) and bool((ab <= 1).all())
    assert bool((ab[1:] < ab[:-1]).all())


@pytest.mark.parametrize("name", CONSTRUCTORS)
def test_zero_terminal_snr(name):
    base = CONSTRUCTORS[name](1000)
    s = CONSTRUCTORS[name](1000, zero_terminal_snr=True)
    assert s.alpha_bars[-1].item() == pytest.approx(0.0, abs=1e-12)
    assert s.alpha_bars[0].item() == pytest.approx(base.alpha_bars[0].item(), rel=1e-9)
    # Lin et al.: sqrt(alpha_bar) is an affine map of the original one
    new, old = s.alpha_bars.sqrt(), base.alpha_bars.sqrt()
    slope = (new[0] - new[500]) / (old[0] - old[500])
    assert torch.allclose(new, slope * (old - old[-1]), atol=1e-9)
    assert bool((s.alpha_bars[1:] < s.alpha_bars[:-1]).all())


def test_warns_when_training_never_sees_pure_noise():
    with pytest.warns(TerminalSNRWarning, match="alpha_bar_T"):
        NoiseSchedule.linear(500)  # the pb2025 project's 76/80/84 px runs: alpha_bar_T ~ 0.0064
    with warnings.catch_warnings():
        warnings.simplefilter("error", TerminalSNRWarning)
        NoiseSchedule.linear(1000)
        NoiseSchedule.cosine(500)
        NoiseSchedule.linear(500, zero_terminal_snr=True)


@pytest.mark.parametrize("name", CONSTRUCTORS)
def test_config_round_trip(name):
    s = CONSTRUCTORS[name](1000, zero_terminal_snr=name == "cosine")
    again = NoiseSchedule.from_config(s.config)
    assert torch.equal(again.betas, s.betas)


def test_bad_arguments_are_explained():
    for T in (0, 10**8, True, 1.5):
        with pytest.raises(ValueError, match=r"T must be an integer in \[1, 100,000\]"):
            NoiseSchedule.linear(T)
    with pytest.raises(ValueError, match=r"schedule must be one of .*, got 'cosinus'"):
        NoiseSchedule.from_config({"name": "cosinus", "T": 10})
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        NoiseSchedule(torch.tensor([0.1, 1.5]))
