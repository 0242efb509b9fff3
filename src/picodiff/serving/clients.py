"""Who a request comes from, the limits each client lives within, and their fair shares.

A client is its remote address plus the X-Client-Id it sends. Clients can forge ids, not
addresses, so every limit applies twice: to the client and, more loosely, to its address
(forging ids never buys more than the address's share). The limits here are on long-lived
requests (event streams and ?wait=true, each holding an HTTP thread); the generation queue
applies the same idea to queued jobs and running rows, and orders work by `FairShare`.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .validation import ApiError

CLIENT_ID = re.compile(r"[!-~]{1,64}")  # X-Client-Id: 1 to 64 visible ASCII characters


@dataclass(frozen=True)
class Client:
    address: str
    id: str = ""

    @classmethod
    def of(cls, request) -> Client:
        """The client of a Flask request."""
        chosen = request.headers.get("X-Client-Id")
        if chosen is not None and not CLIENT_ID.fullmatch(chosen):
            raise ApiError(
                400,
                "X-Client-Id must be 1 to 64 visible ASCII characters (no spaces)",
                field="X-Client-Id",
            )
        return cls(request.remote_addr or "unknown", chosen or "")

    @property
    def name(self) -> str:
        """The id it chose, else its address (rollouts keep a client on one version by it)."""
        return self.id or self.address


def address_share(per_client: int, total: int) -> int:
    """What one address may hold of `total`: all but a quarter, kept for other addresses."""
    return min(total, max(per_client, total - max(1, total // 4)))


class Slots:
    """Long-lived requests held at once: at most `total`, `per_client` for one client and
    `address_share` for one address; beyond that, 503 with Retry-After."""

    def __init__(self, total: int, per_client: int):
        self.total, self.per_client = total, per_client
        self.per_address = address_share(per_client, total)
        self._held: Counter = Counter()
        self._lock = threading.Lock()

    def acquire(self, client: Client) -> Callable[[], None]:
        """Take a slot for `client`; returns the function that gives it back (once)."""
        scopes = (  # widest first: the narrowest full one is named
            ("all", self.total, "on this server"),
            (("address", client.address), self.per_address, "from your address"),
            (("client", client), self.per_client, "for your client"),
        )
        keys = [key for key, _, _ in scopes]
        with self._lock:
            full = [(limit, where) for key, limit, where in scopes if self._held[key] >= limit]
            if full:
                limit, where = full[-1]
                raise ApiError(
                    503,
                    f"too many open event streams and waits {where} (at most {limit}); "
                    "close one or retry",
                    headers={"Retry-After": "5"},
                )
            self._held.update(keys)
        released = threading.Event()

        def release() -> None:
            if released.is_set():
                return
            released.set()
            with self._lock:
                self._held.subtract(keys)

        return release


class FairShare:
    """Max-min fair order of clients: the least served first. A client's service is the rows
    x steps it was given since it last became active. A newly active client starts `credit`
    below the least served active one: a short job runs at once, at full speed, while a long
    one soon shares equally; idle time earns no more than that."""

    def __init__(self, credit: float = 0.0) -> None:
        self.credit = credit
        self._service: dict[object, float] = {}

    def keep(self, active: Iterable[object]) -> None:
        """Forget clients no longer active; place the newly active ones."""
        active = set(active)
        self._service = {c: s for c, s in self._service.items() if c in active}
        start = min(self._service.values(), default=0.0) - self.credit
        for client in active - self._service.keys():
            self._service[client] = start

    def service(self, client: object) -> float:
        return self._service.get(client, 0.0)

    def charge(self, client: object, amount: float) -> None:
        self._service[client] = self.service(client) + amount
