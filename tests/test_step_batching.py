"""Step-level batching in the engine: batches at different steps, with different samplers, step
counts and cascade stages, advanced through shared network calls, give the bytes they give
alone."""

import pytest
import torch
from tiny_models import cpu_threads, tiny_checkpoint

from picodiff.checkpoint import load_checkpoint
from picodiff.sampling import (
    Cascade,
    NetworkCall,
    SamplerSettings,
    Stage,
    call_network,
    image_steps,
    open_checkpoint,
    sample_images,
)

single_thread = pytest.fixture(scope="module", autouse=True)(cpu_threads)

# (sampler, steps, seed, index, the tick it joins at)
BATCHES = [
    (SamplerSettings("ddpm", 12), 0, [0, 1, 2], 0),
    (SamplerSettings("dpmpp2m-sde", 6), 1, [5], 2),
    (SamplerSettings("heun", 4), 2, [0, 7], 3),
    (SamplerSettings("unipc3", 5), 3, [4], 3),
    (SamplerSettings("ddim", 7, eta=1.0), 4, [2, 3, 9], 5),
]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return open_checkpoint(tiny_checkpoint(tmp_path_factory.mktemp("m") / "base", T=40))


def run_together(starts: list[tuple[int, object]], micro_batch: int = 4) -> tuple[list, list]:
    """Advance generators of network calls like the server's worker: each joins at its tick,
    every running one gets one evaluation per tick, calls to one network shared. Returns the
    results and the number of rows of every shared call."""
    results, running, sizes, tick = {}, {}, [], 0
    with torch.inference_mode():
        while len(results) < len(starts):
            for k, (joins, steps) in enumerate(starts):
                if joins == tick:
                    running[k] = (steps, next(steps))
            by_net: dict[int, list[int]] = {}
            for k, (_, call) in running.items():
                by_net.setdefault(id(call.net), []).append(k)
            for members in by_net.values():
                calls = [running[k][1] for k in members]
                sizes.append(sum(len(c.x) for c in calls))
                for k, output in zip(members, call_network(calls, micro_batch)):
                    steps = running[k][0]
                    try:
                        running[k] = (steps, steps.send(output))
                    except StopIteration as done:
                        results[k] = done.value
                        del running[k]
            tick += 1
    return [results[k] for k in range(len(starts))], sizes


def test_batches_at_different_steps_share_calls_and_match_alone(model):
    starts = [
        (joins, image_steps(model, indices, settings, seed=seed))
        for settings, seed, indices, joins in BATCHES
    ]
    together, sizes = run_together(starts)
    assert max(sizes) == sum(len(indices) for _, _, indices, _ in BATCHES)  # all in one call
    for (settings, seed, indices, _), image in zip(BATCHES, together):
        alone = sample_images(model, indices, settings, seed=seed)
        assert torch.equal(alone, image), settings.sampler


def test_cascade_stages_and_plain_batches_advance_side_by_side(model, tmp_path):
    superres = load_checkpoint(tiny_checkpoint(tmp_path / "sr", low_res_size=8, seed=2, T=40))
    small = load_checkpoint(tiny_checkpoint(tmp_path / "small", image_size=8, seed=3, T=40))
    cascade = Cascade([Stage(small, SamplerSettings("ddim", 3)), Stage(superres)])
    rows = [(11, 0), (11, 1)]
    plain = SamplerSettings("dpmpp3m", 8)
    together, _ = run_together(
        [(0, cascade.steps(rows)), (1, image_steps(model, [0, 1], plain, seed=11))]
    )
    alone = cascade.sample_rows(rows)
    assert all(torch.equal(a, b) for a, b in zip(alone, together[0]))
    assert torch.equal(together[1], sample_images(model, [0, 1], plain, seed=11))


def test_call_network_takes_one_network(model, tmp_path):
    other = open_checkpoint(tiny_checkpoint(tmp_path / "other", seed=4))
    x, t = torch.zeros(1, 3, 16, 16), torch.zeros(1, dtype=torch.long)
    calls = [NetworkCall(model.model, x, t), NetworkCall(other.model, x, t)]
    with pytest.raises(ValueError, match="one network"):
        call_network(calls, 4)
