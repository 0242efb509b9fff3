"""Conditional models on the web page end to end: headless Chromium, driven by Playwright,
against a real `picodiff serve` with tiny random-weight class- and text-conditional models and
an unconditional one. The class picker, the prompt box and the guidance slider appear for the
model that takes them only, and the job the page makes draws the class chosen or the prompt
typed with the guidance set. Without Chromium or Playwright the test is skipped, except under
CI=1 where that is a failure."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import pytest
import torch
from live_server import Server
from test_serving_units import make_model
from tiny_models import class_checkpoint, text_checkpoint
from web_helpers import (
    artifacts_dir,
    chromium_browser,
    require_built_page,
)

import picodiff

LABELS = ("cat", "dog", "bird")
LONG = 60_000  # ms: generous on a loaded 2-core machine


browser = pytest.fixture(scope="module")(chromium_browser)


def make_models(models: Path) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        class_checkpoint(models / "pets", LABELS)
        text_checkpoint(models / "words")
        make_model(models, "plain", T=20, seed=1)
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_built_page()
    root = tmp_path_factory.mktemp("conditional")
    models = root / "models"
    make_models(models)
    # the server runs the picodiff these tests import (a checkout's src/ before an install)
    source = str(Path(picodiff.__file__).resolve().parent.parent)
    path = os.pathsep.join(p for p in (source, os.environ.get("PYTHONPATH", "")) if p)
    server = Server(root, "--models", str(models), env={"PYTHONPATH": path})
    yield server
    server.stop()


@pytest.fixture
def page(browser, server):
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server.url("/"))
    expect(page.get_by_role("status").filter(has_text="Server: Online")).to_be_visible()
    yield page
    context.close()
    assert not errors, f"errors in the page: {errors}"


def get_json(server: Server, path: str) -> dict:
    with urllib.request.urlopen(server.url(path), timeout=60) as response:
        return json.loads(response.read())


def generate_one(page, g, seed: int) -> tuple[dict, str]:
    """One image of 3 steps with `seed` from the Generate tab `g`: the body the page sent and
    the job id the server answered."""
    g.get_by_label("Number of images", exact=True).fill("1")
    g.get_by_label("Steps", exact=True).fill("3")
    g.get_by_label("Seed", exact=True).fill(str(seed))
    with page.expect_response(lambda r: r.url.endswith("/api/generate")) as answer:
        g.get_by_role("button", name="Generate", exact=True).click()
    assert answer.value.status == 202, answer.value.text()
    return answer.value.request.post_data_json, answer.value.json()["id"]


def test_pick_a_class_and_its_guidance(page, server):
    from playwright.sync_api import expect

    g = page.get_by_role("tabpanel", name="Generate")
    g.get_by_role("radio", name="plain").check()
    expect(g.get_by_label("Class", exact=True)).to_have_count(0)
    expect(g.get_by_label("Guidance", exact=True)).to_have_count(0)

    g.get_by_role("radio", name="pets").check()
    picker = g.get_by_label("Class", exact=True)
    slider = g.get_by_label("Guidance", exact=True)
    expect(picker).to_have_value(LABELS[0])  # a class model opens on its first class
    options = picker.locator("option").all_inner_texts()
    assert options == ["any (unconditional)", *LABELS]
    expect(slider).to_be_enabled()
    expect(slider).to_have_value("3")
    expect(slider).to_have_accessible_description(
        "1 = the class as trained, higher = more typical, 0 = ignore the class"
    )

    picker.select_option(label="any (unconditional)")
    expect(slider).to_be_disabled()
    picker.select_option("dog")
    expect(slider).to_be_enabled()
    slider.fill("2")
    expect(slider).to_have_value("2")
    expect(g.locator("output")).to_have_text("2")
    sent, job_id = generate_one(page, g, seed=11)
    assert (sent["model"], sent["label"], sent["guidance"]) == ("pets", "dog", 2)

    image = g.get_by_role("img", name="Image 0 of seed 11, pets")
    expect(image).to_be_visible(timeout=LONG)
    assert image.evaluate("img => img.naturalWidth") == 16
    job = get_json(server, f"/api/jobs/{job_id}")
    assert (job["status"], job["model"], job["label"], job["guidance"]) == (
        "done",
        "pets",
        "dog",
        2,
    )
    history = g.get_by_role("region", name="History")
    expect(
        history.get_by_text("pets: class dog, guidance 2, dpmpp2m, 3 steps, seed 11")
    ).to_be_visible()
    page.screenshot(path=artifacts_dir() / "generate-class.png", full_page=True)

    picker.select_option(label="any (unconditional)")
    expect(slider).to_be_disabled()
    g.get_by_role("radio", name="plain").check()
    expect(g.get_by_label("Class", exact=True)).to_have_count(0)
    expect(g.get_by_label("Guidance", exact=True)).to_have_count(0)


def test_type_a_prompt_and_its_guidance(page, server):
    from playwright.sync_api import expect

    g = page.get_by_role("tabpanel", name="Generate")
    g.get_by_role("radio", name="pets").check()
    expect(g.get_by_label("Prompt", exact=True)).to_have_count(0)
    g.get_by_role("radio", name="words").check()
    expect(g.get_by_label("Class", exact=True)).to_have_count(0)
    box = g.get_by_label("Prompt", exact=True)
    slider = g.get_by_label("Guidance", exact=True)
    expect(box).to_have_value("")
    expect(slider).to_be_disabled()
    box.fill("red apple")
    expect(slider).to_be_enabled()
    expect(box).to_have_accessible_description("9/200 characters; empty draws without one.")
    slider.fill("4")
    sent, job_id = generate_one(page, g, seed=12)
    assert (sent["model"], sent["prompt"], sent["guidance"]) == ("words", "red apple", 4)

    image = g.get_by_role("img", name="Image 0 of seed 12, words")
    expect(image).to_be_visible(timeout=LONG)
    job = get_json(server, f"/api/jobs/{job_id}")
    assert (job["status"], job["prompt"], job["guidance"]) == ("done", "red apple", 4)
    history = g.get_by_role("region", name="History")
    expect(
        history.get_by_text("words: prompt “red apple”, guidance 4, dpmpp2m, 3 steps, seed 12")
    ).to_be_visible()
    page.screenshot(path=artifacts_dir() / "generate-prompt.png", full_page=True)

    # an over-long prompt is refused on the page, before anything is sent
    box.fill("x" * 201)
    expect(g.get_by_text("Prompt must be at most 200 characters (it has 201).")).to_be_visible()
    expect(g.get_by_role("button", name="Generate", exact=True)).to_have_accessible_description(
        "Fix the settings marked in red first."
    )
