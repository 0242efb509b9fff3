"""The web page's Health view on a real model: the bundled fashion-32 served with scheduled
quality checks against the Fashion-MNIST test split, screenshotted in Chromium.

    python bench/health_view.py --ref STORE            # picodiff prepare fashion-mnist --size 32
    python bench/health_view.py --ref STORE --checks 3 --n 200 --out docs/health-view.png

A copy of fashion-32 gets the monitoring metadata `picodiff train` now writes (`reference`, the
`output_stats` of 16 samples drawn as its training run drew its grids, a class model's
classes in turn at its sample_guidance) and an FID threshold of
1.25x its recorded FID; `picodiff serve --quality-check-every` then checks it every
--every seconds while 32 images are drawn through the API, and the view is captured once
--checks checks are in. Prints each check's FID and the output monitor's verdict.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from live_server import Server  # noqa: E402  (tests/: a real `picodiff serve` subprocess)
from web_helpers import CHROMIUM_ARGS, chromium_path  # noqa: E402

from picodiff.bundled import BUNDLED_MODELS_DIR  # noqa: E402
from picodiff.diffusion import SamplerSettings  # noqa: E402
from picodiff.models.conditioning import classes_in_turn  # noqa: E402
from picodiff.sampling import open_checkpoint, sample_images  # noqa: E402
from picodiff.sampling.monitor import BatchStats, NoiseProbe, summarize  # noqa: E402


def monitored_copy(models: Path, ref: Path) -> dict:
    """fashion-32 with a reference store, its output statistics and an FID threshold."""
    folder = models / "fashion-32"
    shutil.copytree(BUNDLED_MODELS_DIR / "fashion-32", folder)
    config = json.loads((folder / "config.json").read_text())
    meta, train = config["metadata"], config["metadata"]["train_config"]
    checkpoint = open_checkpoint(str(folder))
    settings = SamplerSettings(train["sample_method"], train["sample_steps"])
    probe = NoiseProbe()
    drawn = classes_in_turn(checkpoint.conditioning, range(16), train.get("sample_guidance"))
    images = sample_images(
        checkpoint, range(16), settings, seed=train["seed"], observe=probe, **drawn
    )
    resolved = settings.resolve(checkpoint.schedule.T)
    stats = summarize([BatchStats.of(images, probe)])
    meta["output_stats"] = {**stats, "sampler": resolved.sampler, "steps": resolved.steps}
    meta["reference"] = str(ref.resolve())
    meta["fid_threshold"] = round(1.25 * meta["fid"], 2)
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    return meta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ref", type=Path, required=True, help="the fashion-mnist store (32 px)")
    parser.add_argument("--n", type=int, default=200, help="images per quality check")
    parser.add_argument("--checks", type=int, default=2, help="checks to wait for")
    parser.add_argument("--every", type=int, default=60, help="seconds between checks")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "health-view.png")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="health-view-"))
    meta = monitored_copy(work / "models", args.ref)
    print(f"recorded FID {meta['fid']}, threshold {meta['fid_threshold']}", flush=True)
    every, n = str(args.every), str(args.n)
    server = Server(work, "--models", str(work / "models"), "--quality-check-every", every,
                    "--quality-n", n, "--torch-threads", "2")  # fmt: skip
    try:
        conditioning = open_checkpoint(str(work / "models" / "fashion-32")).conditioning
        labels = list(conditioning.labels) if conditioning else []
        for seed in range(4):  # a class model: 8 images of each of its first 4 classes
            label = {"label": labels[seed % len(labels)]} if labels else {}
            answer = server.generate(model="fashion-32", n=8, seed=seed, **label)
            assert answer.status_code == 200, answer.text
        health = wait_for_checks(server, args.checks)
        for check in health["quality"]["history"]:
            print(f"check n={check['n']}: FID {check['fid']:.2f}, KID {check['kid']:.4f}")
        outputs = health["outputs"]
        print(f"outputs: {outputs['status']}, drift {outputs['drift']} ({outputs['worst']})")
        screenshot(server.base, args.out)
        print(f"screenshot: {args.out}")
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def wait_for_checks(server: Server, count: int) -> dict:
    while True:
        model = next(m for m in server.get("/api/models").json() if m["name"] == "fashion-32")
        quality = model["health"]["quality"]
        if quality["last_failure"]:
            raise SystemExit(f"quality check failed: {quality['last_failure']['reason']}")
        if len(quality["history"]) >= count:
            return model["health"]
        time.sleep(2)


def screenshot(base: str, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(base + "/")
        page.get_by_role("tab", name="Health").click()
        card = page.get_by_role("tabpanel", name="Health").get_by_role("article", name="fashion-32")
        card.locator("canvas").wait_for(timeout=60_000)
        page.wait_for_timeout(500)
        page.screenshot(path=str(out), full_page=True)
        browser.close()


if __name__ == "__main__":
    main()
