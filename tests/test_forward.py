import pytest
import torch

from picodiff.diffusion import (
    NoiseSchedule,
    diffusion_loss,
    min_snr_weight,
    predict_x0_eps,
    q_posterior,
    q_sample,
    training_target,
)

SCHEDULE = NoiseSchedule.linear(1000)


def test_closed_form_matches_the_markov_chain():
    g = torch.Generator().manual_seed(0)
    x0 = torch.tensor([0.8, -0.5, 0.1]).repeat(40000, 1)
    x = x0.clone()
    for step in range(300):
        beta = SCHEDULE.betas[step].item()
        x = (1 - beta) ** 0.5 * x + beta**0.5 * torch.randn(x.shape, generator=g)
        if step in (0, 49, 299):
            t = torch.full((x.shape[0],), step)
            closed = q_sample(SCHEDULE, x0, t, torch.randn(x.shape, generator=g))
            assert torch.allclose(x.mean(0), closed.mean(0), atol=0.02)
            assert torch.allclose(x.var(0), closed.var(0), rtol=0.05, atol=1e-4)
            ab = SCHEDULE.alpha_bars[step].item()
            assert torch.allclose(x.mean(0), ab**0.5 * x0[0], atol=0.02)
            assert torch.allclose(x.var(0), torch.full((3,), 1 - ab), rtol=0.05)


@pytest.mark.parametrize("t", [0, 1, 10, 500, 999])
def test_posterior_is_gaussian_conditioning(t):
    """q(x_{t-1} | x_t, x0) from the joint Gaussian of (x_{t-1}, x_t) given x0."""
    x0, x_t = torch.tensor([[0.3, -0.7]]), torch.tensor([[1.1, 0.2]])
    mean, var = q_posterior(SCHEDULE, x0, x_t, torch.tensor([t]))
    ab_prev = SCHEDULE.alpha_bars[t - 1].item() if t > 0 else 1.0
    alpha = SCHEDULE.alphas[t].item()
    ab = SCHEDULE.alpha_bars[t].item()
    cov = alpha**0.5 * (1 - ab_prev)  # Cov(x_{t-1}, x_t | x0)
    expected_mean = ab_prev**0.5 * x0 + cov / (1 - ab) * (x_t - ab**0.5 * x0)
    expected_var = (1 - ab_prev) - cov**2 / (1 - ab)
    assert torch.allclose(mean, expected_mean, atol=1e-6)
    assert torch.allclose(var, torch.full_like(var, expected_var), atol=1e-9)


@pytest.mark.parametrize("prediction", ["eps", "v", "x0"])
def test_targets_invert_to_x0_and_eps(prediction):
    g = torch.Generator().manual_seed(1)
    x0, noise = torch.rand(4, 3, generator=g) * 2 - 1, torch.randn(4, 3, generator=g)
    for t in (0, 300, 999):
        ab = SCHEDULE.alpha_bars[t].item()
        x_t = ab**0.5 * x0 + (1 - ab) ** 0.5 * noise
        target = training_target(prediction, x0, noise, torch.tensor(ab))
        got_x0, got_eps = predict_x0_eps(prediction, x_t, target, ab)
        assert torch.allclose(got_x0, x0, atol=2e-4) and torch.allclose(got_eps, noise, atol=2e-4)


def test_loss_is_mse_to_the_target_and_zero_for_a_perfect_model():
    g = torch.Generator().manual_seed(2)
    x0, noise = torch.randn(6, 1, 4, 4, generator=g), torch.randn(6, 1, 4, 4, generator=g)
    t = torch.tensor([0, 5, 100, 400, 800, 999])
    loss = diffusion_loss(lambda x, t: torch.zeros_like(x), SCHEDULE, x0, t=t, noise=noise)
    assert loss.item() == pytest.approx(noise.pow(2).mean().item(), rel=1e-5)

    def oracle(x_t, t_):  # knows the noise: predicts eps exactly
        assert torch.equal(t_, t)
        return noise

    assert diffusion_loss(oracle, SCHEDULE, x0, t=t, noise=noise).item() == pytest.approx(0.0)
    per_example = diffusion_loss(
        lambda x, t: torch.zeros_like(x), SCHEDULE, x0, t=t, noise=noise, reduction="none"
    )
    assert per_example.shape == (6,)


def test_min_snr_gamma_weights():
    t = torch.tensor([0, 200, 999])
    ab = SCHEDULE.alpha_bars[t]
    snr = ab / (1 - ab)
    expected = {
        "eps": torch.minimum(snr, torch.tensor(5.0)) / snr,
        "v": torch.minimum(snr, torch.tensor(5.0)) / (snr + 1),
        "x0": torch.minimum(snr, torch.tensor(5.0)),
    }
    for prediction, weight in expected.items():
        got = min_snr_weight(SCHEDULE, t, prediction, 5.0)
        assert torch.allclose(got, weight.float(), rtol=1e-5)
    # weighting changes the loss only where SNR > gamma (small t for eps)
    x0 = torch.randn(3, 1, 2, 2)
    plain = diffusion_loss(lambda x, t: x, SCHEDULE, x0, t=t, noise=x0, reduction="none")
    weighted = diffusion_loss(
        lambda x, t: x, SCHEDULE, x0, t=t, noise=x0, reduction="none", min_snr_gamma=5.0
    )
    assert weighted[0] < plain[0] and weighted[2] == pytest.approx(plain[2].item())


def test_loss_draws_are_reproducible():
    x0 = torch.randn(4, 1, 4, 4)

    def model(x, t):
        return x * 0.5

    a = diffusion_loss(model, SCHEDULE, x0, generator=torch.Generator().manual_seed(3))
    b = diffusion_loss(model, SCHEDULE, x0, generator=torch.Generator().manual_seed(3))
    assert a.item() == b.item()
    with pytest.raises(ValueError, match="prediction must be one of"):
        diffusion_loss(model, SCHEDULE, x0, prediction="score")
