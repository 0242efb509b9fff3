"""Pico-Banana sources against a real HTTP server on 127.0.0.1 (404, 500s, 429 + Retry-After,
a stall past the timeout, a cut-off body) and a local Open Images layout."""

import json
import threading
import time
from collections import Counter, defaultdict
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from image_files import jpeg_bytes, photo
from PIL import Image

from picodiff.data.download import Downloader, DownloadOptions
from picodiff.data.prepare import PrepareOptions, prepare
from picodiff.data.sources import PicoBananaOptions, SourceOptions

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")
RATE = 20.0  # requests per second per host


class FakeCDN(ThreadingHTTPServer):
    """Serves `routes` {path: handler(hit_number) -> (status, headers, body)}; records hits."""

    daemon_threads = True

    def __init__(self, routes):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes, self.hits, self.lock = routes, defaultdict(list), threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def count(self, path: str) -> int:
        return len(self.hits[path])

    def handle_error(self, request, client_address):  # stalled clients hang up: expected
        pass


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        with self.server.lock:
            self.server.hits[self.path].append(time.monotonic())
            hit = len(self.server.hits[self.path])
        route = self.server.routes.get(self.path, lambda hit: (404, {}, b"not found"))
        status, headers, body = route(hit)
        self.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def ok(body):
    return lambda hit: (200, {}, body)


def fails_then_ok(body, failures, status, headers=None):
    return lambda hit: (status, headers or {}, b"busy") if hit <= failures else (200, {}, body)


def stall(hit):
    time.sleep(1.5)
    return 200, {}, b""


def cut_off(body):
    return lambda hit: (200, {"Content-Length": str(len(body))}, body[: len(body) // 3])


def png_bytes(seed):
    import io

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (24, 24, 3), np.uint8)).save(
        buffer, format="PNG"
    )
    return buffer.getvalue()


# (source image path, edit_type); row 3 repeats row 1's photo
ROWS = [
    ("ok0", "A"),
    ("ok1", "B"),
    ("ok0", "B"),
    ("missing", "A"),
    ("flaky", "A"),
    ("limited", "B"),
    ("stall", "A"),
    ("short", "A"),
    ("ok2", "C"),
    ("ok3", "C"),
]


@pytest.fixture
def cdn():
    photos = {f"ok{i}": jpeg_bytes(photo(name)) for i, name in enumerate(PHOTOS)}
    routes = {f"/flickr/{name}.jpg": ok(body) for name, body in photos.items()}
    routes["/flickr/flaky.jpg"] = fails_then_ok(photos["ok1"], 2, 500)
    routes["/flickr/limited.jpg"] = fails_then_ok(photos["ok2"], 1, 429, {"Retry-After": "1"})
    routes["/flickr/stall.jpg"] = stall
    routes["/flickr/short.jpg"] = cut_off(photos["ok3"])
    for n in range(1, len(ROWS) + 1):
        if n != 8:  # edited image 8 is missing from the CDN
            routes[f"/nb/images/positive-edit/{n}.png"] = ok(png_bytes(n))
    server = FakeCDN(routes)
    rows = [
        {
            "open_image_input_url": f"{server.url}/flickr/{name}.jpg",
            "text": "edit it",
            "output_image": f"images/positive-edit/{n}.png",
            "edit_type": edit_type,
        }
        for n, (name, edit_type) in enumerate(ROWS, start=1)
    ]
    routes["/nb/jsonl/sft.jsonl"] = ok("".join(json.dumps(r) + "\n" for r in rows).encode())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def options(cache: Path, **picobanana) -> PrepareOptions:
    download = DownloadOptions(cache, threads=4, rate=RATE, timeout=0.3, retries=2, backoff=0.05)
    return PrepareOptions(
        size=16,
        val_fraction=0,
        progress=False,
        format="picobanana",
        sources=SourceOptions(picobanana=PicoBananaOptions(**picobanana), download=download),
    )


def sources_in(store: Path) -> list[str]:
    lines = (store / "train.index.jsonl").read_text().splitlines()
    return [json.loads(line)["source"].rsplit("/", 1)[-1] for line in lines]


SOURCE_JSONL = "/nb/jsonl/sft.jsonl"
KEPT = ["ok0.jpg", "ok1.jpg", "flaky.jpg", "limited.jpg", "ok2.jpg", "ok3.jpg"]
GIVEN_UP = {"missing.jpg": "http-404", "stall.jpg": "timeout", "short.jpg": "incomplete"}


@pytest.fixture
def first_run(cdn, tmp_path):
    return prepare(cdn.url + SOURCE_JSONL, tmp_path / "one", options(tmp_path / "cache"))


def test_downloads_retry_and_give_up(cdn, first_run):
    assert sources_in(first_run.path) == KEPT
    assert first_run.skipped == {"http-404": 1, "timeout": 1, "incomplete": 1}
    assert first_run.duplicates == 1 and first_run.candidates == 9
    lines = (first_run.path / "skipped.jsonl").read_text().splitlines()
    skipped = {json.loads(s)["source"].rsplit("/", 1)[-1]: json.loads(s)["reason"] for s in lines}
    assert skipped == GIVEN_UP
    hits = {path.rsplit("/", 1)[-1]: len(times) for path, times in cdn.hits.items()}
    retried = {"flaky.jpg": 3, "limited.jpg": 2, "stall.jpg": 3, "short.jpg": 3}
    assert hits == {
        "sft.jsonl": 1,
        "ok0.jpg": 1,
        "ok1.jpg": 1,
        "ok2.jpg": 1,
        "ok3.jpg": 1,
        "missing.jpg": 1,
        **retried,
    }
    limited = cdn.hits["/flickr/limited.jpg"]
    assert limited[1] - limited[0] >= 0.95  # Retry-After: 1 honoured
    # one host: requests spaced by the rate limit. Measured over every other arrival, so that
    # one arrival stamped late on a busy machine (its gap before grows, the one after shrinks)
    # cannot pass for two requests sent too close together
    starts = np.sort([t for times in cdn.hits.values() for t in times])
    assert min(starts[2:] - starts[:-2]) >= 1.4 / RATE


def test_rerun_fetches_nothing_already_cached(cdn, first_run, tmp_path):
    cache = tmp_path / "cache"
    downloader = Downloader(options(cache).sources.download)
    assert not downloader.cache_path(f"{cdn.url}/flickr/short.jpg").exists()  # never half a file
    assert not list(cache.rglob("*.part"))
    before = {path: len(times) for path, times in cdn.hits.items()}
    second = prepare(cdn.url + SOURCE_JSONL, tmp_path / "two", options(cache))
    fetched = [p for p in before if p.rsplit("/", 1)[-1] not in GIVEN_UP]
    assert all(cdn.count(p) == before[p] for p in fetched)  # nothing fetched twice
    assert all(cdn.count(f"/flickr/{name}") > before[f"/flickr/{name}"] for name in GIVEN_UP)
    assert np.array_equal(np.load(second.path / "train.npy"), np.load(first_run.path / "train.npy"))


def test_edited_images_filtered_by_edit_type(cdn, tmp_path):
    jsonl = tmp_path / "sft.jsonl"
    jsonl.write_bytes(cdn.routes["/nb/jsonl/sft.jsonl"](1)[2])
    base = options(
        tmp_path / "cache",
        images="edited",
        base_url=f"{cdn.url}/nb/",
        edit_types=("A", "C", "typo"),
    )
    report = prepare(str(jsonl), tmp_path / "edited", base)
    assert sources_in(report.path) == ["1.png", "4.png", "5.png", "7.png", "9.png", "10.png"]
    assert report.skipped == {"http-404": 1}  # 8.png
    lines = (report.path / "train.index.jsonl").read_text().splitlines()
    index = [json.loads(line) for line in lines]
    assert [row["edit_type"] for row in index] == ["A", "A", "A", "A", "C", "C"]
    assert [row["line"] for row in index] == [1, 4, 5, 7, 9, 10]
    assert any("'typo' matched no row" in w for w in report.warnings)


def test_multi_turn_rows_and_manifests(cdn, tmp_path):
    multi = tmp_path / "multi-turn.jsonl"
    files = [
        {"id": "original_input_image", "url": f"{cdn.url}/flickr/ok0.jpg"},
        {"id": "turn_1", "url": "images/positive-edit/1.png"},
        {"id": "turn_2", "url": "images/positive-edit/2.png"},
    ]
    multi.write_text(json.dumps({"files": files}) + "\n")
    cache = tmp_path / "cache"
    source = prepare(str(multi), tmp_path / "s", options(cache))
    assert sources_in(source.path) == ["ok0.jpg"]
    edited = prepare(
        str(multi), tmp_path / "e", options(cache, images="edited", base_url=f"{cdn.url}/nb")
    )
    assert sources_in(edited.path) == ["1.png", "2.png"]
    manifest = tmp_path / "sft_manifest.txt"
    manifest.write_text(
        f"{cdn.url}/nb/images/positive-edit/3.png\n{cdn.url}/nb/images/positive-edit/8.png\n"
    )
    listed = prepare(str(manifest), tmp_path / "m", options(cache, images="edited"))
    assert sources_in(listed.path) == ["3.png"] and listed.skipped == {"http-404": 1}


def test_local_open_images_need_no_network(tmp_path):
    urls = [f"https://farm.invalid/{name}.jpg" for name in ("a", "b", "c", "d")]
    (tmp_path / "sft.jsonl").write_text(
        "".join(json.dumps({"open_image_input_url": u, "edit_type": "A"}) + "\n" for u in urls)
    )
    (tmp_path / "oi.csv").write_text(
        "ImageID,Subset,OriginalURL\n"
        + "".join(f"{image_id},train,{u}\n" for image_id, u in zip(("0a1", "0b2", "0c3"), urls))
    )
    (tmp_path / "oi" / "train_1").mkdir(parents=True)
    (tmp_path / "oi" / "0a1.jpg").write_bytes(jpeg_bytes(photo("coffee")))
    (tmp_path / "oi" / "train_1" / "0b2.jpg").write_bytes(jpeg_bytes(photo("rocket")))
    local = options(
        tmp_path / "cache", openimages_dir=tmp_path / "oi", openimages_csv=tmp_path / "oi.csv"
    )
    report = prepare(str(tmp_path / "sft.jsonl"), tmp_path / "store", replace(local, workers=2))
    assert sources_in(report.path) == ["a.jpg", "b.jpg"]
    assert report.skipped == {"missing-local-file": 1, "not-in-openimages-csv": 1}


def test_hostile_rows_are_skipped_with_reasons_and_the_run_finishes(tmp_path):
    good = jpeg_bytes(photo("coffee"))
    routes = {
        "/ok.jpg": ok(good),
        "/no-length.jpg": lambda hit: (200, {"Content-Length": "lots"}, good),
        "/huge.jpg": lambda hit: (200, {"Content-Length": str(10**12)}, b""),
        "/slow-down.jpg": fails_then_ok(good, 1, 503, {"Retry-After": "99999999"}),
    }
    server = FakeCDN(routes)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(good)  # a local file a row points at: never read
    urls = [
        f"{server.url}/ok.jpg",
        f"file://{secret}",
        "data:image/jpeg;base64,/9j/4AAQ",
        "http://[::1",
        "http://127.0.0.1:99999/x.jpg",
        "ftp://127.0.0.1/x.jpg",
        f"{server.url}/no-length.jpg",
        f"{server.url}/huge.jpg",
        f"{server.url}/slow-down.jpg",
    ]
    lines = [json.dumps({"open_image_input_url": url, "edit_type": "A"}) for url in urls]
    lines += ["[1, 2]", '"a string"', "7", json.dumps({"open_image_input_url": 5})]
    lines += [json.dumps({"open_image_input_url": f"{server.url}/ok.jpg", "edit_type": ["A"]})]
    rows = tmp_path / "sft.jsonl"
    rows.write_text("\n".join(lines) + "\n")
    download = DownloadOptions(
        tmp_path / "cache", threads=2, rate=RATE, timeout=2, retries=2, backoff=0.05, max_wait=0.5
    )
    run = replace(
        options(tmp_path / "cache"),
        sources=SourceOptions(picobanana=PicoBananaOptions(), download=download),
    )
    try:
        report = prepare(str(rows), tmp_path / "store", run)
    finally:
        server.shutdown()
        server.server_close()
    assert sorted(sources_in(report.path)) == ["no-length.jpg", "ok.jpg", "slow-down.jpg"]
    skipped = [
        json.loads(line) for line in (report.path / "skipped.jsonl").read_text().splitlines()
    ]
    reasons = Counter(s["reason"] for s in skipped)
    assert reasons == {"bad-url": 6, "bad-row": 4, "too-large": 1}, skipped
    assert not any(str(secret) in s["source"] for s in skipped if s["reason"] != "bad-url")
    cached = list((tmp_path / "cache").rglob("*.*"))
    assert all(path.read_bytes() == good for path in cached)  # only what the server sent


def test_only_http_urls_are_downloaded(tmp_path):
    from picodiff.data.download import DownloadFailed

    downloader = Downloader(DownloadOptions(tmp_path))
    for url in ("file:///etc/passwd", "data:,hi", "http://", "https:///x", None, "http://[x"):
        with pytest.raises(DownloadFailed) as failed:
            downloader.fetch(url)
        assert failed.value.reason == "bad-url"
    assert not any(tmp_path.iterdir())
