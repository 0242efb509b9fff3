"""The web page end to end: headless Chromium, driven by Playwright, against a real
`picodiff serve` on 127.0.0.1 with tiny random-weight models. Screenshots are saved under
$PICODIFF_ARTIFACTS (default tests/artifacts/). Without Chromium or Playwright these tests
are skipped, except under CI=1 where that is a failure."""

from __future__ import annotations

import base64
import json
import re
import shutil
import urllib.request
import zipfile

import pytest
from tiny_models import with_presets
from web_helpers import (
    Server,
    artifacts_dir,
    chromium_browser,
    make_invalid_model,
    make_tiny_cascade,
    make_tiny_model,
    require_built_page,
)

# what the page showed, recorded in the browser (a fast job can finish between two polls)
RECORDER = """
window.__seen = { progress: [], preview: false };
new MutationObserver(() => {
  for (const bar of document.querySelectorAll('[role=progressbar]')) {
    const text = bar.getAttribute('aria-valuetext');
    if (text && window.__seen.progress.at(-1) !== text) window.__seen.progress.push(text);
  }
  if (document.querySelector('img[alt^="Denoising preview"]')) window.__seen.preview = true;
}).observe(document, { subtree: true, childList: true, attributes: true });
"""
LONG = 60_000  # ms: generous on a loaded 2-core machine


def get(server: Server, path: str) -> bytes:
    with urllib.request.urlopen(server.base + path, timeout=60) as response:
        return response.read()


def post_json(server: Server, path: str, body: dict) -> dict:
    request = urllib.request.Request(
        server.base + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


browser = pytest.fixture(scope="module")(chromium_browser)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    require_built_page()
    root = tmp_path_factory.mktemp("web")
    models = root / "models"
    make_tiny_model(models, "tiny-a", seed=0)
    make_tiny_model(models, "tiny-b", seed=1)
    make_tiny_model(models, "doomed", seed=2)  # deleted by one test
    with_presets(make_tiny_model(models, "tiny-curved", T=40, seed=3))
    make_invalid_model(models, "broken")
    make_tiny_cascade(models, "pair", root / "stages")
    server = Server(models, root / "server.log")
    server.models = models
    yield server
    server.stop()


@pytest.fixture
def page(browser, server):
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.base)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.add_init_script(RECORDER)
    page.goto(server.base + "/")
    expect(page.get_by_role("status").filter(has_text="Server: Online")).to_be_visible()
    yield page
    context.close()
    assert not errors, f"errors in the page: {errors}"


def panel(page, name: str = "Generate"):
    return page.get_by_role("tabpanel", name=name)


def fill(scope, **fields: str) -> None:
    labels = {"n": "Number of images", "steps": "Steps", "seed": "Seed"}
    for name, value in fields.items():
        if name == "sampler":
            scope.get_by_label("Sampler").select_option(value)
        else:
            scope.get_by_label(labels[name], exact=True).fill(value)


def submit(page, scope, button: str = "Generate") -> dict:
    """Click the button; the 202 answer of POST /api/generate."""
    with page.expect_response(lambda r: r.url.endswith("/api/generate")) as posted:
        scope.get_by_role("button", name=button, exact=True).click()
    return posted.value.json()


def test_the_server_serves_the_built_page(server):
    html = get(server, "/").decode()
    assert '<div id="root">' in html
    for asset in re.findall(r'(?:src|href)="\./(assets/[^"]+)"', html):
        assert get(server, "/" + asset)


def test_generate_watch_progress_download(page, server, tmp_path):
    from playwright.sync_api import expect

    g = panel(page)
    expect(g.get_by_role("radio", name="broken")).to_be_disabled()
    expect(g.get_by_text(re.compile(r"^Invalid: config\.json: invalid JSON"))).to_be_visible()
    g.get_by_role("radio", name="tiny-b").check()
    expect(g.get_by_label("Steps", exact=True)).to_have_value("20")  # dpmpp2m's default
    fill(g, n="2", sampler="ddpm", steps="400", seed="42")
    job = submit(page, g)
    assert (job["model"], job["n"], job["steps"], job["seed"]) == ("tiny-b", 2, 400, 42)

    expect(g.get_by_role("heading", name="Results")).to_be_visible(timeout=LONG)
    seen = page.evaluate("window.__seen")
    midway = [t for t in seen["progress"] if re.fullmatch(r"step ([1-9]\d*) of 400", t)]
    assert midway and midway[0] != "step 400 of 400", seen
    assert seen["preview"], "no denoising preview was shown"
    images = g.get_by_role("img", name=re.compile(r"^Image \d of seed 42, tiny-b$"))
    expect(images).to_have_count(2)
    assert images.first.evaluate("img => img.naturalWidth") == 16
    history = g.get_by_role("region", name="History")
    expect(history.get_by_text("tiny-b: ddpm, 400 steps, seed 42")).to_be_visible()
    page.screenshot(path=artifacts_dir() / "generate-results.png", full_page=True)

    with page.expect_download() as download:
        g.get_by_role("link", name="Download image 1").click()
    assert download.value.suggested_filename == "tiny-b-ddpm-400steps-seed42-1.png"
    download.value.save_as(tmp_path / "one.png")
    png = (tmp_path / "one.png").read_bytes()
    assert png == get(server, f"/api/jobs/{job['id']}/images/1.png")
    # the shown settings draw the very same image again
    again = post_json(
        server,
        "/api/generate?wait=true",
        {"model": "tiny-b", "n": 2, "sampler": "ddpm", "steps": 400, "seed": 42},
    )
    assert base64.b64decode(again["images_base64"][1]) == png

    with page.expect_download() as download:
        g.get_by_role("button", name=re.compile(r"^Download all")).click()
    download.value.save_as(tmp_path / "all.zip")
    with zipfile.ZipFile(tmp_path / "all.zip") as archive:
        assert archive.testzip() is None
        assert sorted(archive.namelist()) == [
            "settings.json",
            "tiny-b-ddpm-400steps-seed42-0.png",
            "tiny-b-ddpm-400steps-seed42-1.png",
        ]
        assert archive.read("tiny-b-ddpm-400steps-seed42-1.png") == png
        request = json.loads(archive.read("settings.json"))["request"]
    assert request == {
        "model": "tiny-b",
        "n": 2,
        "sampler": "ddpm",
        "steps": 400,
        "eta": 0,
        "seed": 42,
    }

    g.get_by_role("button", name="Copy the request as JSON").click()
    expect(g.get_by_role("status").filter(has_text="Copied")).to_be_visible()
    assert json.loads(page.evaluate("navigator.clipboard.readText()")) == request


def test_a_model_opens_on_its_default_preset_and_draws_the_one_picked(page, server):
    from playwright.sync_api import expect

    g = panel(page)
    g.get_by_role("radio", name="tiny-curved").check()
    presets = g.get_by_role("radiogroup", name="Sampling preset")
    balanced = presets.get_by_role("radio", name=re.compile("^Balanced"))
    expect(balanced).to_have_attribute("aria-checked", "true")
    expect(balanced).to_contain_text("DDIM, 6 network calls · FID 90.0")
    expect(g.get_by_label("Sampler")).to_have_value("ddim")
    expect(g.get_by_label("Steps", exact=True)).to_have_value("6")

    presets.get_by_role("radio", name=re.compile("^Fast")).click()
    fill(g, n="1", seed="9")
    job = submit(page, g)
    assert (job["sampler"], job["steps"], job["spacing"]) == ("ddim", 3, "linear")
    image = g.get_by_role("img", name="Image 0 of seed 9, tiny-curved")
    expect(image).to_be_visible(timeout=LONG)
    png = get(server, f"/api/jobs/{job['id']}/images/0.png")
    body = {"model": "tiny-curved", "sampler": "ddim", "steps": 3, "spacing": "linear", "seed": 9}
    again = post_json(server, "/api/generate?wait=true", body)
    assert base64.b64decode(again["images_base64"][0]) == png
    page.screenshot(path=artifacts_dir() / "generate-presets.png", full_page=True)

    g.get_by_label("Steps", exact=True).fill("5")  # custom settings from the preset's
    expect(presets.get_by_role("radio", name=re.compile("^Custom"))).to_have_attribute(
        "aria-checked", "true"
    )
    g.get_by_role("radio", name="tiny-a").check()
    expect(g.get_by_role("radiogroup", name="Sampling preset")).to_have_count(0)


def test_a_cascade_is_one_model(page):
    from playwright.sync_api import expect

    g = panel(page)
    pair = g.get_by_role("radio", name="pair")
    expect(pair).to_have_accessible_description(re.compile(r"16 → 32 px, 2 stages"))
    pair.check()
    fill(g, n="1", steps="3", seed="9")
    job = submit(page, g)
    assert (job["model"], job["steps"], job["seed"]) == ("pair", 3, 9)
    image = g.get_by_role("img", name="Image 0 of seed 9, pair")
    expect(image).to_be_visible(timeout=LONG)
    assert image.evaluate("img => img.naturalWidth") == 32  # the last stage's resolution


def test_cancel_a_long_job(page, server):
    from playwright.sync_api import expect

    g = panel(page)
    g.get_by_role("radio", name="tiny-a").check()
    fill(g, n="16", sampler="ddpm", steps="1000", seed="3")
    job = submit(page, g)
    expect(g.get_by_test_id("progress-text")).to_contain_text(
        re.compile(r"Step [1-9]\d* / 1000"), timeout=LONG
    )
    page.screenshot(path=artifacts_dir() / "generate-progress.png", full_page=True)
    g.get_by_role("button", name="Cancel", exact=True).click()
    expect(g.get_by_text(re.compile(r"^Cancelled\."))).to_be_visible()
    expect(g.get_by_role("button", name="Generate", exact=True)).to_be_enabled()
    assert json.loads(get(server, f"/api/jobs/{job['id']}"))["status"] == "cancelled"
    page.screenshot(path=artifacts_dir() / "generate-cancelled.png", full_page=True)


def test_invalid_values_are_explained(page):
    from playwright.sync_api import expect

    g = panel(page)
    fill(g, steps="5000", seed="abc")
    expect(g.get_by_text("Steps must be at most 1000 (the server's limit).")).to_be_visible()
    expect(g.get_by_text(re.compile(r"^Seed must be a whole number"))).to_be_visible()
    expect(g.get_by_label("Steps", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(g.get_by_role("button", name="Generate", exact=True)).to_be_disabled()
    page.screenshot(path=artifacts_dir() / "validation.png", full_page=True)
    fill(g, steps="10", seed="1")
    expect(g.get_by_role("button", name="Generate", exact=True)).to_be_enabled()


def test_an_api_error_is_shown_as_a_readable_message(page, server):
    from playwright.sync_api import expect

    g = panel(page)
    g.get_by_role("radio", name="doomed").check()
    shutil.rmtree(server.models / "doomed")  # gone from the server after the page listed it
    post_json(server, "/api/models/reload", {})
    fill(g, steps="5")
    g.get_by_role("button", name="Generate", exact=True).click()
    expect(g.get_by_role("alert")).to_contain_text("No model named 'doomed'")
    expect(g.get_by_role("radio", name="doomed")).to_have_count(0)  # the page read the list again
    page.screenshot(path=artifacts_dir() / "api-error.png", full_page=True)


def test_compare_two_models_with_one_seed(page):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Generate").focus()
    page.keyboard.press("ArrowRight")  # the tabs follow the keyboard
    expect(page.get_by_role("tab", name="Compare models")).to_have_attribute(
        "aria-selected", "true"
    )
    c = panel(page, "Compare models")
    c.get_by_label("Left model").select_option("tiny-a")
    c.get_by_label("Right model").select_option("tiny-b")
    fill(c, n="2", steps="10", seed="7")
    c.get_by_role("button", name="Compare", exact=True).click()
    expect(c.get_by_role("heading", name="Left: tiny-a")).to_be_visible(timeout=LONG)
    expect(c.get_by_role("heading", name="Right: tiny-b")).to_be_visible(timeout=LONG)
    expect(c.get_by_text("tiny-a: dpmpp2m, 10 steps, seed 7", exact=True)).to_be_visible()
    expect(c.get_by_text("tiny-b: dpmpp2m, 10 steps, seed 7", exact=True)).to_be_visible()
    page.screenshot(path=artifacts_dir() / "compare.png", full_page=True)


def test_phone_width(page):
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 390, "height": 844})
    expect(panel(page).get_by_role("button", name="Generate", exact=True)).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=artifacts_dir() / "phone.png", full_page=True)
