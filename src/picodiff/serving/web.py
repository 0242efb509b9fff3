"""The web page at / : the built front end in serving/static when present, else a pointer."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, send_from_directory
from werkzeug.exceptions import NotFound
from werkzeug.routing import PathConverter

web = Blueprint("web", __name__)


class PagePath(PathConverter):
    """A path outside /api/: the page's files never shadow an API route, so a GET of a
    POST-only route is the router's 405, not a missing file's 404."""

    regex = r"(?!api/)[^/].*?"


PLACEHOLDER = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>picodiff serve</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>picodiff serve</h1>
<p>The web page is not built into this installation. The REST API is running:</p>
<ul>
<li><a href="/api/models">/api/models</a>: the models and why any is invalid</li>
<li><a href="/api/openapi.json">/api/openapi.json</a>: the API (OpenAPI 3.1)</li>
<li><a href="/api/health">/api/health</a>, <a href="/api/ready">/api/ready</a>,
<a href="/metrics">/metrics</a></li>
</ul>
<pre>curl -X POST localhost:8000/api/generate?wait=true -H 'Content-Type: application/json' \\
     -d '{"model": "NAME", "n": 4, "seed": 0}'</pre>
</body></html>
"""


def _static_dir() -> Path:
    return Path(current_app.extensions["picodiff"].config.static_dir)


@web.get("/")
def index():
    static = _static_dir()
    if (static / "index.html").is_file():
        return send_from_directory(static, "index.html")
    return PLACEHOLDER, 200, {"Content-Type": "text/html; charset=utf-8"}


@web.get("/<page:filename>")
def static_file(filename: str):
    """Assets of the built page (send_from_directory refuses paths outside the folder)."""
    static = _static_dir()
    if not static.is_dir():
        raise NotFound()
    return send_from_directory(static, filename)
