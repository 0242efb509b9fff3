"""Samplers as steppers: generators that yield each network call they need and are sent its
answer, so that one driver can run a single batch (`drive`) and another can advance many
batches, each at its own step, through shared network calls (the server's worker).

    stepper = dpmpp_2m(x_T, steps)          # yields (x_t, t), is sent (x0, eps), returns x_0
    x_0 = drive(stepper, lambda call: denoise(*call))
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, TypeVar

import torch

Request = TypeVar("Request")
Reply = TypeVar("Reply")
# a sampler's stepper: yields (x_t, t), is sent the (x0, eps) predictions, returns x_0
Stepper = Generator[tuple[torch.Tensor, int], tuple[torch.Tensor, torch.Tensor], torch.Tensor]


def drive(stepper: Generator[Request, Reply, Any], answer: Callable[[Request], Reply]) -> Any:
    """Run `stepper` to the end, answering each of its requests with answer(request)."""
    request = next(stepper)
    while True:
        try:
            request = stepper.send(answer(request))
        except StopIteration as done:
            return done.value


def relay(
    stepper: Generator[Request, Reply, Any],
    ask: Callable[[Request], Any],
    reply: Callable[[Request, Any], Reply],
) -> Generator[Any, Any, Any]:
    """`stepper` seen through a translation: yields ask(request) for each of its requests and
    sends it reply(request, answer); returns what it returns."""
    request = next(stepper)
    while True:
        answer = yield ask(request)
        try:
            request = stepper.send(reply(request, answer))
        except StopIteration as done:
            return done.value
