"""The page's Health view end to end: headless Chromium, driven by Playwright, against a real
`picodiff serve` whose model names a reference store, so that a scheduled quality check runs.
The view must show the live FID the API gives, the job counts, and a drawn plot. Its
screenshot goes to $PICODIFF_ARTIFACTS (default tests/artifacts/; the README's, of a real model,
is taken by bench/health_view.py). Without Chromium or
Playwright the test is skipped, except under CI=1 where that is a failure."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
import torch
from live_server import Server
from stores import make_disc_store
from test_monitoring import recorded_stats
from test_serving_units import make_model
from web_helpers import (
    artifacts_dir,
    chromium_browser,
    require_built_page,
)

from picodiff.checkpoint import load_checkpoint, save_checkpoint

FEATURES = "fid_features:colour_stats"  # tests/fid_features.py: the server imports it
LONG = 60_000  # ms: generous on a loaded 2-core machine

# the plot's canvas: how many pixels are drawn at all, and how many in the live FID's amber
PIXELS = """canvas => {
  const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
  let drawn = 0, amber = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] === 0) continue;
    drawn++;
    if (data[i] > 200 && data[i + 1] > 140 && data[i + 1] < 220 && data[i + 2] < 100) amber++;
  }
  return { drawn, amber, width: canvas.width, height: canvas.height };
}"""


browser = pytest.fixture(scope="module")(chromium_browser)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the models and their recorded statistics, made here
    try:
        yield from served(tmp_path_factory)
    finally:
        torch.set_num_threads(threads)


def served(tmp_path_factory):
    require_built_page()
    root = tmp_path_factory.mktemp("health")
    store = make_disc_store(root / "discs", train=8, val=24)
    models = root / "models"
    # a random-weight model: its FID against the discs is in the tens of thousands
    checkpoint = load_checkpoint(make_model(root / "make", "watched", T=20))
    meta = {
        "reference": str(store),
        "features": FEATURES,
        "fid": 45_000.0,
        "fid_threshold": 52_000.0,
        "output_stats": recorded_stats(checkpoint),  # as `picodiff train` records them
    }
    save_checkpoint(models / "watched", checkpoint.model, checkpoint.schedule, metadata=meta)
    make_model(models, "plain", T=20, seed=1)  # no reference store: never checked
    (models / "broken").mkdir()
    (models / "broken" / "config.json").write_text("{ not json")
    tests = str(Path(__file__).resolve().parent)
    path = os.pathsep.join(p for p in (tests, os.environ.get("PYTHONPATH", "")) if p)
    args = ["--models", str(models), "--quality-check-every", "3600", "--quality-n", "12"]
    server = Server(root, *args, env={"PYTHONPATH": path})
    yield server
    server.stop()


def listed(server: Server, name: str) -> dict:
    return next(m for m in server.get("/api/models").json() if m["name"] == name)


def checked(server: Server, name: str, timeout: float = 180.0) -> dict:
    """The model once its first quality check is in (a failed check fails the test)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        model = listed(server, name)
        quality = model["health"]["quality"]
        assert quality["last_failure"] is None, quality["last_failure"]
        if quality["latest"]:
            return model
        time.sleep(0.5)
    raise AssertionError(f"no quality check in {timeout} s; log: {server.log.read_text()[-2000:]}")


def fact(card, term: str):
    """The value next to `term` in a card's definition list."""
    return card.locator("dt", has_text=re.compile(f"^{re.escape(term)}$")).locator(
        "xpath=following-sibling::dd[1]"
    )


def test_the_health_view_shows_the_live_fid_jobs_and_a_drawn_plot(browser, server):
    from playwright.sync_api import expect

    for seed in (1, 2):  # 16 images: enough for the output monitor to judge
        answer = server.generate(model="watched", n=8, seed=seed)
        assert answer.status_code == 200, answer.text
    model = checked(server, "watched")
    health = model["health"]
    latest = health["quality"]["latest"]
    assert latest["n"] == 12 and health["quality"]["history"][-1]["fid"] == latest["fid"]
    assert health["jobs"] == {"done": 2, "failed": 0, "cancelled": 0}
    assert health["outputs"]["status"] == "ok", health["outputs"]

    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(server.base + "/")
        expect(page.get_by_role("status").filter(has_text="Server: Online")).to_be_visible()
        page.get_by_role("tab", name="Health").click()
        panel = page.get_by_role("tabpanel", name="Health")
        card = panel.get_by_role("article", name="watched")
        expect(card).to_be_visible(timeout=LONG)

        live = page.evaluate("fid => fid.toFixed(2)", latest["fid"])  # as the page writes it
        expect(fact(card, "Live FID")).to_have_text(re.compile(rf"^{re.escape(live)}\b"))
        expect(fact(card, "Recorded FID")).to_have_text("45000.00")
        expect(fact(card, "Threshold")).to_have_text("52000.00")
        expect(card.get_by_text("Outputs: ok")).to_be_visible()
        drift = page.evaluate("d => d.toFixed(2)", health["outputs"]["drift"])
        expect(fact(card, "Drift")).to_have_text(re.compile(rf"^{drift} \(within tolerance\)"))
        expect(fact(card, "Jobs")).to_have_text("2 done / 0 failed / 0 cancelled")
        expect(fact(card, "Failure rate")).to_have_text("0.0 % failed")
        expect(fact(card, "Last check")).to_contain_text("n = 12")
        expect(card.get_by_role("figure", name="Live FID of watched over time")).to_be_visible()

        plain = panel.get_by_role("article", name="plain")
        expect(plain).to_contain_text("quality checks need a reference store in the model's")
        expect(panel.get_by_role("region", name="Invalid models")).to_contain_text("broken")

        canvas = card.locator("[data-testid=fid-chart] canvas")
        expect(canvas).to_have_count(1, timeout=LONG)  # uPlot loads with the first plot
        pixels = canvas.evaluate(PIXELS)
        assert pixels["width"] > 300 and pixels["height"] > 100, pixels
        assert pixels["drawn"] > 0, f"the plot's canvas is blank: {pixels}"
        assert pixels["amber"] > 0, f"the live FID is not drawn: {pixels}"

        shot = artifacts_dir() / "health-view.png"
        panel.screenshot(path=shot)
        assert shot.stat().st_size < 200_000, f"{shot}: {shot.stat().st_size} bytes"
    finally:
        context.close()
    assert not errors, f"errors in the page: {errors}"
