"""The web page at / : the built front end in serving/static when present, else a pointer."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, send_from_directory
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

web = Blueprint("web", __name__)

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


def route_methods(path: str) -> list[str]:
    """The methods the routes at `path` take, the page's file route not counted (for Allow)."""
    adapter = current_app.url_map.bind("localhost")
    methods = []
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        try:
            endpoint, _ = adapter.match(path, method=method)
        except HTTPException:
            continue
        if endpoint != "web.static_file":
            methods += [method, "HEAD"] if method == "GET" else [method]
    return methods


def _static_dir() -> Path:
    return Path(current_app.extensions["picodiff"].config.static_dir)


@web.get("/")
def index():
    static = _static_dir()
    if (static / "index.html").is_file():
        return send_from_directory(static, "index.html")
    return PLACEHOLDER, 200, {"Content-Type": "text/html; charset=utf-8"}


@web.get("/<path:filename>")
def static_file(filename: str):
    """Assets of the built page (send_from_directory refuses paths outside the folder); a GET
    on an API route that takes other methods is a 405 naming them, not a missing file."""
    methods = route_methods(f"/{filename}")
    if methods:
        raise MethodNotAllowed(valid_methods=methods)
    static = _static_dir()
    if not static.is_dir():
        raise NotFound()
    return send_from_directory(static, filename)
