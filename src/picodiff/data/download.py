"""HTTP downloads into a cache: parallel, rate-limited per host, retried with backoff.

The cache (default ~/.cache/picodiff/downloads, or $XDG_CACHE_HOME/picodiff/downloads) holds one
file per URL, named by the URL's SHA-1 and sharded by its first two hex digits. A file is written
under a temporary name and renamed only once complete (its length checked against
Content-Length), so a rerun never uses a partial download and fetches nothing already cached.

Only http and https URLs with a host are fetched (a `file:` or `data:` URL is a "bad-url"
failure, never read). Timeouts, connection errors, HTTP 429 and 5xx are retried up to `retries`
times, waiting backoff * 2**attempt seconds, or the server's Retry-After (for 429/503, applied
to the whole host; at most `max_wait`). Other HTTP errors (404, 403, 410...) give up at once. A
file over `max_bytes` ("too-large") or not done within `deadline` seconds, all attempts
together ("timeout"), is given up. Failures raise DownloadFailed(reason).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path, PurePosixPath
from typing import TypeVar
from urllib.parse import urlsplit

from .. import __version__
from ..errors import DiskFull

T = TypeVar("T")
_CHUNK = 1 << 16


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "picodiff" / "downloads"


@dataclass(frozen=True)
class DownloadOptions:
    cache_dir: Path
    threads: int = 16
    rate: float = 10.0  # requests per second per host
    timeout: float = 30.0  # seconds without a byte before giving up on an attempt
    retries: int = 5
    backoff: float = 1.0  # first retry wait in seconds, doubled each attempt
    max_wait: float = 300.0  # longest single wait (caps Retry-After)
    max_bytes: int = 64 << 20  # largest file fetched
    deadline: float = 900.0  # seconds per file, all attempts and waits together


class DownloadFailed(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


class _Retry(Exception):
    """A failed attempt worth repeating; `host_wait` is a Retry-After for the whole host."""

    def __init__(self, reason: str, detail: str, host_wait: float | None = None):
        super().__init__(detail)
        self.reason, self.detail, self.host_wait = reason, detail, host_wait


class HostRateLimiter:
    """Spaces requests to each host at least 1/rate seconds apart, across threads."""

    def __init__(self, rate: float):
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, host: str) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next.get(host, now))
            self._next[host] = slot + self.interval
        time.sleep(max(0.0, slot - now))

    def defer(self, host: str, seconds: float) -> None:
        """No request to `host` for `seconds` (a server's Retry-After)."""
        with self._lock:
            until = time.monotonic() + seconds
            self._next[host] = max(self._next.get(host, 0.0), until)


class Downloader:
    def __init__(self, options: DownloadOptions):
        self.options = options
        self.limiter = HostRateLimiter(options.rate)
        self.counts = {"downloaded": 0, "cached": 0}
        self._count_lock = threading.Lock()

    def cache_path(self, url: str) -> Path:
        digest = hashlib.sha1(url.encode()).hexdigest()
        suffix = PurePosixPath(urlsplit(url).path).suffix.lower()[:8]
        return self.options.cache_dir / digest[:2] / f"{digest}{suffix}"

    def fetch(self, url: str) -> Path:
        """The cached file for `url`, downloading it first if needed."""
        host = check_url(url)
        target = self.cache_path(url)
        if target.is_file():
            self._count("cached")
            return target
        last: _Retry | None = None
        give_up = time.monotonic() + self.options.deadline
        for attempt in range(self.options.retries + 1):
            if last is not None:
                self._pause(host, last, attempt)
            self.limiter.wait(host)
            if time.monotonic() >= give_up:
                limit = f"{self.options.deadline:g} s"
                raise DownloadFailed("timeout", f"not done within the {limit} deadline")
            try:
                self._download(url, target, give_up)
                self._count("downloaded")
                return target
            except _Retry as retry:
                last = retry
        raise DownloadFailed(last.reason, f"{last.detail} (after {self.options.retries} retries)")

    def fetch_all(self, items: Iterable[T], url_of: Callable[[T], str]) -> Iterator[tuple]:
        """(item, Path | DownloadFailed | None) per item, in input order, `threads` at a time.

        Items whose url_of is None are passed through with None.
        """
        window = self.options.threads * 4
        pool = ThreadPoolExecutor(self.options.threads, thread_name_prefix="download")
        try:
            pending: deque = deque()
            for item in items:
                url = url_of(item)
                pending.append((item, pool.submit(self._outcome, url) if url else None))
                if len(pending) >= window:
                    yield _settled(*pending.popleft())
            while pending:
                yield _settled(*pending.popleft())
        finally:  # on an early stop, drop queued downloads instead of waiting for them
            pool.shutdown(wait=False, cancel_futures=True)

    def _outcome(self, url: str) -> Path | DownloadFailed:
        try:
            return self.fetch(url)
        except DownloadFailed as failure:
            return failure

    def _count(self, key: str) -> None:
        with self._count_lock:
            self.counts[key] += 1

    def _pause(self, host: str, retry: _Retry, attempt: int) -> None:
        if retry.host_wait is not None:
            self.limiter.defer(host, min(retry.host_wait, self.options.max_wait))
        else:
            time.sleep(min(self.options.backoff * 2 ** (attempt - 1), self.options.max_wait))

    def _download(self, url: str, target: Path, give_up: float) -> None:
        request = urllib.request.Request(url, headers={"User-Agent": f"picodiff/{__version__}"})
        try:
            with urllib.request.urlopen(request, timeout=self.options.timeout) as response:
                _write_complete(response, target, self.options.max_bytes, give_up)
        except urllib.error.HTTPError as err:
            raise _http_failure(err) from None
        except TimeoutError as err:
            raise _Retry("timeout", f"no data for {self.options.timeout:g} s ({err})") from None
        except urllib.error.URLError as err:
            if isinstance(err.reason, (TimeoutError, socket.timeout)):
                raise _Retry("timeout", f"no answer in {self.options.timeout:g} s") from None
            raise _Retry("network", str(err.reason)) from None
        except (OSError, http.client.HTTPException) as err:
            DiskFull.check(err, f"the download cache {self.options.cache_dir}")
            raise _Retry("network", str(err) or type(err).__name__) from None


def _settled(item, future: Future | None) -> tuple:
    return item, (future.result() if future is not None else None)


def _http_failure(err: urllib.error.HTTPError) -> Exception:
    """A _Retry for 429 / 5xx, a final DownloadFailed for every other status."""
    detail = f"HTTP {err.code} {err.reason}"
    if err.code == 429 or err.code >= 500:
        wait = retry_after_seconds(err.headers.get("Retry-After"))
        return _Retry(f"http-{err.code}", detail, host_wait=wait)
    return DownloadFailed(f"http-{err.code}", detail)


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header (seconds or an HTTP date) as seconds from now; None if absent."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def check_url(url: object) -> str:
    """The host of an http(s) URL; DownloadFailed("bad-url") for anything else."""
    if not isinstance(url, str):
        raise DownloadFailed("bad-url", f"not a URL string: {url!r}"[:200])
    try:
        parts = urlsplit(url)
        host = parts.netloc
        parts.port  # noqa: B018 -- raises on a malformed port
    except ValueError as err:
        raise DownloadFailed("bad-url", f"malformed URL {url[:120]!r} ({err})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DownloadFailed(
            "bad-url", f"{url[:120]!r}: only http and https URLs with a host are downloaded"
        )
    return host


def _content_length(value: str | None) -> int | None:
    """A Content-Length header as bytes; None when absent or not a plain number."""
    text = (value or "").strip()
    return int(text) if text.isdigit() else None


def _write_complete(response, target: Path, max_bytes: int, give_up: float) -> None:
    """Stream `response` to a temporary file beside `target`; rename only if it is whole,
    within `max_bytes` and before `give_up` (time.monotonic)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    expected = _content_length(response.headers.get("Content-Length"))
    if expected is not None and expected > max_bytes:
        raise DownloadFailed("too-large", f"{expected:,} bytes, over the {max_bytes:,} allowed")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            while chunk := response.read(_CHUNK):
                f.write(chunk)
                if f.tell() > max_bytes:
                    raise DownloadFailed("too-large", f"over the {max_bytes:,} bytes allowed")
                if time.monotonic() > give_up:
                    raise DownloadFailed("timeout", "not done within the deadline")
            received = f.tell()
        if expected is not None and received != expected:
            raise _Retry("incomplete", f"received {received:,} of {expected:,} bytes")
        os.replace(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
