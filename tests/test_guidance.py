"""Classifier-free guidance in the sampling engine, against the definition computed apart:
u + w (c - u) from separate conditional and unconditional network calls."""

import pytest
import torch
from tiny_models import cpu_threads

from picodiff.checkpoint import Checkpoint
from picodiff.diffusion import NoiseSchedule, SamplerSettings, image_generators, sampling_steps
from picodiff.diffusion.steppers import drive
from picodiff.errors import UserError
from picodiff.models import UNet, UNetConfig
from picodiff.models.batching import micro_batched
from picodiff.sampling import sample_images

single_thread = pytest.fixture(scope="module", autouse=True)(cpu_threads)
CLASSES, SEED, M = 3, 5, 4


@pytest.fixture(scope="module")
def model() -> Checkpoint:
    torch.manual_seed(0)
    net = UNet(UNetConfig.preset("tiny", image_size=16, num_classes=CLASSES)).eval()
    with torch.no_grad():  # distinct class embeddings, so that labels change the output
        net.class_embed.weight.normal_(0, 1)
    return Checkpoint(net, NoiseSchedule.cosine(40), "eps")


def by_definition(model, indices, labels, w, settings) -> torch.Tensor:
    """The sampler driven by u + w (c - u), each from its own micro-batched call (w = 1: c
    itself, w = 0: u itself, as the engine promises)."""
    net, null = micro_batched(model.model, M), torch.full((len(indices),), CLASSES)
    given = torch.tensor(labels)
    resolved = settings.resolve(model.schedule.T)

    def answer(call):
        x, t = call
        c, u = net(x, t, class_labels=given), net(x, t, class_labels=null)
        return {0.0: u, 1.0: c}.get(w, u + w * (c - u))

    steps = sampling_steps(
        model.schedule,
        (len(indices), 3, 16, 16),
        sampler=resolved.sampler,
        steps=resolved.steps,
        spacing=resolved.spacing,
        generator=image_generators(SEED, indices),
        prediction="eps",
    )
    with torch.inference_mode():
        return drive(steps, answer)


@pytest.mark.parametrize("sampler", ["ddim", "dpmpp2m", "ddpm"])
@pytest.mark.parametrize("w", [0.0, 1.0, 3.0])
def test_guided_sampling_is_u_plus_w_times_c_minus_u(model, sampler, w):
    indices, labels = [0, 1, 2], [0, 2, 1]  # 3 rows: the doubled call spans blocks unevenly
    settings = SamplerSettings(sampler, 6)
    drawn = sample_images(
        model, indices, settings, seed=SEED, labels=labels, guidance=w, micro_batch=M
    )
    assert torch.equal(drawn, by_definition(model, indices, labels, w, settings))


def test_guidance_0_is_the_unconditional_model_and_1_the_conditional_one(model):
    settings, indices = SamplerSettings("ddim", 6), [0, 1, 2, 3]
    plain = sample_images(model, indices, settings, seed=SEED, micro_batch=M)  # null class
    at_0 = sample_images(
        model, indices, settings, seed=SEED, labels=[0, 1, 2, 0], guidance=0, micro_batch=M
    )
    at_1 = sample_images(
        model, indices, settings, seed=SEED, labels=[0, 1, 2, 0], guidance=1, micro_batch=M
    )
    assert torch.equal(at_0, plain) and not torch.equal(at_1, plain)
    assert torch.equal(at_1, by_definition(model, indices, [0, 1, 2, 0], 1.0, settings))


def test_a_guided_image_does_not_depend_on_its_batch(model):
    settings = SamplerSettings("dpmpp2m", 5)
    alone = sample_images(model, [2], settings, seed=SEED, labels=[1], guidance=3, micro_batch=M)
    batch = sample_images(
        model,
        range(6),
        settings,
        seed=SEED,
        labels=[0, None, 1, 2, 2, None],
        guidance=3,
        micro_batch=M,
    )
    assert torch.equal(alone[0], batch[2])


def test_labels_and_guidance_are_checked(model):
    settings = SamplerSettings("ddim", 2)
    with pytest.raises(UserError, match=r"class indices in 0\.\.2"):
        sample_images(model, [0], settings, labels=[3])
    with pytest.raises(UserError, match="guidance must be"):
        sample_images(model, [0], settings, labels=[0], guidance=-1)
    plain = Checkpoint(UNet(UNetConfig.preset("tiny", image_size=16)), model.schedule, "eps")
    with pytest.raises(UserError, match="not class-conditional"):
        sample_images(plain, [0], settings, labels=[0])
