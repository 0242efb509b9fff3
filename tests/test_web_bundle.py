"""The web page shipped in the package: built from the current frontend/ sources, complete,
and inside the wheel (so `pip install` users need no Node)."""

import importlib.util
import json
import re
import shutil
import subprocess
import sys
import zipfile

from web_helpers import FRONTEND, ROOT, STATIC, source_files, source_hash

REBUILD = "run npm run build in frontend/ (after npm ci), then commit src/picodiff/serving/static/"


def test_the_shipped_bundle_matches_the_frontend_sources():
    info = STATIC / "build-info.json"
    assert info.is_file(), f"{info} is missing: {REBUILD}"
    built = json.loads(info.read_text())["source_sha256"]
    assert built == source_hash(), (
        f"src/picodiff/serving/static/ was built from other sources than frontend/ holds now: "
        f"{REBUILD}"
    )


def test_the_digest_covers_the_sources_and_not_the_tests():
    files = source_files()
    assert {"index.html", "package-lock.json", "src/App.tsx", "src/main.tsx"} <= set(files)
    assert not [f for f in files if f.startswith(("tests/", "node_modules/"))]
    assert (FRONTEND / "scripts" / "source-hash.mjs").is_file()  # the build's side of the rule


def test_index_html_loads_only_files_that_exist():
    html = (STATIC / "index.html").read_text()
    assets = re.findall(r'(?:src|href)="\./(assets/[^"]+)"', html)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    for asset in assets:
        assert (STATIC / asset).is_file(), f"index.html needs {asset}: {REBUILD}"
    assert "http://" not in html.replace("http://www.w3.org", "")  # relative URLs only


def can_build_in_place() -> bool:
    """This environment's setuptools can build the wheel without an isolated build env."""
    try:
        import setuptools
    except ImportError:
        return False
    major = int(setuptools.__version__.split(".")[0])
    return major >= 71 or (major >= 69 and importlib.util.find_spec("wheel") is not None)


def test_the_wheel_ships_the_page(tmp_path):
    """Build a wheel from a copy of the project and look for every file of the bundle."""
    project = tmp_path / "project"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(ROOT / "src", project / "src", ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, project / name)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet"]
    command += ["--no-build-isolation"] if can_build_in_place() else []
    command += ["-w", str(tmp_path / "dist"), str(project)]
    subprocess.run(command, check=True, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("picodiff-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    bundle = [p.relative_to(ROOT / "src").as_posix() for p in STATIC.rglob("*") if p.is_file()]
    assert bundle, REBUILD
    data = ["picodiff/training/presets.yaml"]
    data += [
        f"picodiff/bundled_models/{name}/{file}"
        for name in ("digits-demo", "emoji-32", "fashion-32")
        for file in ("config.json", "ema.safetensors")
    ]
    missing = sorted(set(bundle + data) - names)
    assert not missing, f"pyproject.toml's package data leaves out {missing}"
