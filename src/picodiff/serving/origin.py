"""Which Host and Origin headers the server answers: its own addresses only, so that another web
page a user visits (or a DNS name rebound to 127.0.0.1) cannot drive or read it from a browser.

A server on a loopback address answers to localhost, 127.0.0.1 and ::1; one on a named address
to that name; one on every address (0.0.0.0 or ::) to any IP address. `--allow-host NAME` adds
names (a machine name, a reverse proxy's public name). Ports are not compared: the check is
about which name the browser thinks it is talking to.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
EVERY_ADDRESS = ("0.0.0.0", "::")


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class HostPolicy:
    """The host names a server listening on `host` answers to, plus `allowed`."""

    def __init__(self, host: str, allowed: Iterable[str] = ()):
        self.names = {host.lower(), *(name.lower() for name in allowed)}
        if is_loopback(host):
            self.names |= LOOPBACK_NAMES
        self.any_address = host in EVERY_ADDRESS

    def accepts(self, name: str | None) -> bool:
        if name is None:
            return False
        if name in self.names:
            return True
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return self.any_address

    def refusal(self, host: str | None, origin: str | None) -> str | None:
        """Why a request with these Host and Origin headers is refused, or None."""
        name = _hostname(f"//{host}") if host else None
        if not self.accepts(name):
            return (
                f"this server does not answer to the host {host!r}; if that name is right, "
                "start it with --allow-host NAME"
            )
        if origin is not None:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not self.accepts(_hostname(origin)):
                return f"requests from pages at {origin!r} are refused (no cross-origin use)"
        return None


def _hostname(url: str) -> str | None:
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None
