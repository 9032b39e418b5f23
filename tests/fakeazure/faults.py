"""Per-test fault injection for the fake Azure.

    fake.faults.add("PUT", r"/localNetworkGateways/", status=429, times=1, retry_after=1)
    fake.faults.drop_connection("GET", r"/localNetworkGateways/")   # close without answering
    fake.faults.drop_connection("PUT", r"/localNetworkGateways/", after_processing=True)
    fake.faults.lro_delay = 3                                        # 3 x InProgress per LRO
    fake.faults.lro_fail(code="InternalServerError", message="...")  # next LROs end Failed
    fake.faults.deny_action("Microsoft.Network/localNetworkGateways/write")   # 403

``method`` may be ``"*"``; ``path_regex`` is searched (``re.search``) in the URL path, case
insensitive. ``times=None`` means forever. A fault answers before routing and before the
token check, as a throttling front door does; every hit is counted in ``Fault.hits``.
``reset()`` restores a clean slate (the fixture calls it between tests).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

#: Azure's error code for a status when the test gives none.
DEFAULT_CODES = {
    400: ("BadRequest", "The request is invalid."),
    401: ("AuthenticationFailed", "Authentication failed."),
    403: ("Forbidden", "The client does not have authorization to perform this operation."),
    404: ("ResourceNotFound", "The resource was not found."),
    409: (
        "AnotherOperationInProgress",
        "Another operation on this or dependent resource is in progress.",
    ),
    412: (
        "PreconditionFailed",
        "The condition specified using HTTP conditional header(s) is not met.",
    ),
    429: (
        "TooManyRequests",
        "The request is being throttled as the limit has been reached for operation type - Write_ObservationWindow_00:05:00. For more information, see - https://aka.ms/srpthrottlinglimits",
    ),
    500: ("InternalServerError", "An error occurred."),
    502: (
        "BadGateway",
        "The gateway did not receive a response from 'Microsoft.Network' within the specified time period.",
    ),
    503: ("ServiceUnavailable", "The service is unavailable, please retry the request later."),
    504: (
        "GatewayTimeout",
        "The gateway did not receive a response from 'Microsoft.Network' within the specified time period.",
    ),
}


@dataclass
class Fault:
    """One injected answer; ``body`` None = Azure's CloudError for ``status``."""

    method: str
    path_regex: re.Pattern[str]
    status: int = 500
    times: int | None = 1
    retry_after: int | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    drop_after: bool = False
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (self.method in ("*", method.upper())) and bool(self.path_regex.search(path))

    def cloud_error(self) -> dict[str, Any]:
        if self.body is not None:
            return self.body
        code, message = DEFAULT_CODES.get(self.status, ("Error", f"HTTP {self.status}"))
        return {"error": {"code": code, "message": message}}


@dataclass
class LroFailure:
    code: str = "InternalServerError"
    message: str = "An error occurred."
    times: int | None = 1


class Faults:
    """The registry the server asks on every request (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.items: list[Fault] = []
            self.lro_delay = 0
            self.lro_failures: list[LroFailure] = []
            self.denied: set[str] = set()

    def add(
        self,
        method: str,
        path_regex: str,
        *,
        status: int = 500,
        times: int | None = 1,
        retry_after: int | None = None,
        body: Any = None,
        code: str | None = None,
        message: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Fault:
        """Answer matching requests with ``status`` (and CloudError ``code``/``message``)."""
        if body is None and (code or message):
            dcode, dmsg = DEFAULT_CODES.get(status, ("Error", f"HTTP {status}"))
            body = {"error": {"code": code or dcode, "message": message or dmsg}}
        fault = Fault(
            method=method.upper(),
            path_regex=re.compile(path_regex, re.IGNORECASE),
            status=status,
            times=times,
            retry_after=retry_after,
            body=body,
            headers=dict(headers or {}),
        )
        with self._lock:
            self.items.append(fault)
        return fault

    def drop_connection(
        self, method: str, path_regex: str, *, times: int | None = 1, after_processing: bool = False
    ) -> Fault:
        """Close the connection of matching requests without any answer.

        ``after_processing=True``: the fake handles the request first (a PUT is applied, an
        LRO starts) and only the answer is lost -- the case that tests idempotent retries.
        """
        fault = self.add(method, path_regex, times=times)
        fault.drop = True
        fault.drop_after = after_processing
        return fault

    def lro_fail(
        self,
        *,
        code: str = "InternalServerError",
        message: str = "An error occurred.",
        times: int | None = 1,
    ) -> None:
        """The next ``times`` long-running operations end ``Failed`` with this error."""
        with self._lock:
            self.lro_failures.append(LroFailure(code=code, message=message, times=times))

    def deny_action(self, action: str) -> None:
        """RBAC: answer 403 AuthorizationFailed for this action (case-insensitive)."""
        with self._lock:
            self.denied.add(action.lower())

    def is_denied(self, action: str) -> bool:
        with self._lock:
            return action.lower() in self.denied

    def take(self, method: str, path: str) -> Fault | None:
        """The first live fault for this request, consuming one of its ``times``."""
        with self._lock:
            for fault in self.items:
                if fault.times is not None and fault.hits >= fault.times:
                    continue
                if fault.matches(method, path):
                    fault.hits += 1
                    return fault
        return None

    def take_lro_failure(self) -> LroFailure | None:
        with self._lock:
            for failure in self.lro_failures:
                if failure.times is None:
                    return failure
                if failure.times > 0:
                    failure.times -= 1
                    return failure
        return None
