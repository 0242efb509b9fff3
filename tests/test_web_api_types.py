"""The page's API types come from the server's OpenAPI document: the committed copy of the
document is the server's, and the TypeScript types are openapi-typescript's output for it."""

import json
import shutil
import subprocess

from test_web_frontend import npm_ci_if_needed
from web_helpers import FRONTEND, missing

from picodiff.serving.config import ServeConfig
from picodiff.serving.openapi import openapi_document

API = FRONTEND / "src" / "api"
REGENERATE = "run `npm run api` in frontend/ (in the environment picodiff is installed in)"


def test_the_pages_copy_of_the_document_is_the_servers():
    committed = json.loads((API / "openapi.json").read_text())
    assert committed == openapi_document(ServeConfig()), (
        f"src/api/openapi.json is stale: {REGENERATE}"
    )


def test_the_pages_types_are_generated_from_that_document(tmp_path):
    npm, npx = shutil.which("npm"), shutil.which("npx")
    if not (npm and npx):
        missing("npm is not installed: the page's API types cannot be checked")
    npm_ci_if_needed(npm)
    fresh = tmp_path / "schema.d.ts"
    command = [npx, "openapi-typescript", str(API / "openapi.json"), "-o", str(fresh)]
    subprocess.run(command, cwd=FRONTEND, check=True, capture_output=True, timeout=300)
    assert fresh.read_text() == (API / "schema.d.ts").read_text(), (
        f"schema.d.ts is stale: {REGENERATE}"
    )
