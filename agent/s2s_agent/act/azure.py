"""Azure client: read/update the Local Network Gateway, read/reset the VPN connection.

Importing this module is free: azure.identity / azure.mgmt.network / azure.core are imported
only inside the functions that talk to Azure, so an idle daemon never loads them. Settings
and credentials live in :mod:`..config.azure`, the error family in :mod:`.azure_errors`,
the views it returns in :mod:`.azure_types` (all re-exported here).

Retries are ours (the SDK pipeline runs with ``retry_total=0``, so they never multiply):
429/408/5xx and connection errors back off exponentially (capped), honouring
``Retry-After``, within the call's overall deadline; then :class:`AzureTimeoutError`.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from typing import Any

from ..config.azure import CLOUDS, AzureSettings, parse_azure, read_private_file
from ..core.errors import ConfigError
from .azure_errors import (
    AzureAuthError,
    AzureBusyError,
    AzureError,
    AzureForbiddenError,
    AzureNotFoundError,
    AzureTimeoutError,
    AzureTokenEndpointError,
    classify,
    retry_after,
    translate,
)
from .azure_types import ConnectionView, LngView, UpdateResult
from .credential import make_credential

log = logging.getLogger(__name__)

__all__ = [
    "CLOUDS",
    "AzureAuthError",
    "AzureBusyError",
    "AzureClient",
    "AzureError",
    "AzureForbiddenError",
    "AzureNotFoundError",
    "AzureSettings",
    "AzureTimeoutError",
    "AzureTokenEndpointError",
    "ConnectionView",
    "LngView",
    "UpdateResult",
    "make_credential",
    "parse_azure",
    "read_private_file",
]
MAX_PUTS = 3


class AzureClient:
    """LNG read/update, connection read/reset against ARM, with our retries and deadlines.

    ``owner_uid``: required owner of the credential file (root; tests pass their own uid).
    ``polling_interval``: LRO poll period when Azure sends no usable ``Retry-After``.
    ``backoff_base``/``backoff_max``: the capped exponential backoff of retries.
    """

    def __init__(
        self,
        settings: AzureSettings,
        *,
        owner_uid: int = 0,
        polling_interval: float = 2.0,
        backoff_base: float = 0.5,
        backoff_max: float = 16.0,
        read_timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.settings = settings
        self.owner_uid = owner_uid
        self.polling_interval = polling_interval
        self.backoff_base, self.backoff_max = backoff_base, backoff_max
        self.read_timeout = read_timeout
        self.sleep, self.clock = sleep, clock
        self._client: Any = None
        self._redact: tuple[str, ...] = ()

    def __repr__(self) -> str:
        s = self.settings
        return f"AzureClient(lng={s.lng_id!r}, endpoint={s.arm_endpoint!r})"

    def _network(self) -> Any:
        if self._client is None:
            from azure.mgmt.network import NetworkManagementClient

            cred, self._redact = make_credential(self.settings, owner_uid=self.owner_uid)
            kwargs: dict[str, Any] = {}
            if self.settings.ca_bundle:
                kwargs["connection_verify"] = self.settings.ca_bundle
            self._client = NetworkManagementClient(
                cred,
                self.settings.subscription_id,
                base_url=self.settings.arm_endpoint,
                credential_scopes=[self.settings.scope],
                retry_total=0,
                connection_timeout=10,
                read_timeout=self.read_timeout,
                polling_interval=self.polling_interval,
                **kwargs,
            )
        return self._client

    # ---- error handling and retries ------------------------------------------------------
    def _error(self, exc: BaseException, what: str, resource_id: str) -> AzureError:
        s = self.settings
        return translate(
            exc,
            what=what,
            resource_id=resource_id,
            tenant_id=s.tenant_id,
            client_id=s.client_id,
            credential_file=s.credential_file,
            endpoint=s.arm_endpoint,
            secrets=self._redact,
            authority=s.authority,
        )

    def _call(self, fn: Callable[[], Any], what: str, rid: str, deadline: float) -> Any:
        """Run ``fn`` with retries on transient failures until ``deadline`` (monotonic)."""
        from azure.core.exceptions import AzureError as SdkError

        attempt = 0
        while True:
            attempt += 1
            try:
                return fn()
            except SdkError as exc:
                if classify(exc) != "transient":
                    raise self._error(exc, what, rid) from None
                err = self._error(exc, what, rid)
                delay = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
                hinted = retry_after(exc)
                if hinted is not None:
                    delay = max(delay, hinted) if hinted > 0 else delay
                left = deadline - self.clock()
                if delay >= left:
                    raise AzureTimeoutError(
                        f"gave up {what} after {attempt} attempts (deadline): {err}",
                        status=err.status,
                        code=err.code,
                    ) from None
                log.warning("%s: %s; retry %d in %.1fs", what, err, attempt, delay)
                self.sleep(delay)

    def _deadline(self, seconds: float) -> float:
        return self.clock() + seconds

    # ---- LNG -----------------------------------------------------------------------------
    def _get_lng(self, deadline: float) -> LngView:
        s = self.settings
        ops = self._network().local_network_gateways
        model = self._call(
            lambda: ops.get(s.resource_group, s.local_network_gateway),
            "reading the local network gateway",
            s.lng_id,
            deadline,
        )
        return LngView.from_json(model.as_dict())

    def get_lng(self, *, deadline_s: float = 60.0) -> LngView:
        """Read the LNG (``gatewayIpAddress``, etag, address space, BGP, FQDN, tags ...)."""
        return self._get_lng(self._deadline(deadline_s))

    def update_lng_ip(self, new_ip: str, *, deadline_s: float = 120.0) -> UpdateResult:
        """Set the LNG's ``gatewayIpAddress`` to ``new_ip``, every other property preserved.

        GET; equal -> no write (waits if an update is still running). Otherwise PUT the whole
        resource as read with ``If-Match: <etag>`` and wait for the long-running operation.
        412 -> re-read and retry once; 409 after a lost answer -> re-read and compare.
        """
        s, start = self.settings, self.clock()
        deadline = start + deadline_s
        what = f"updating the local network gateway IP to {new_ip}"
        try:
            first = self._get_lng(deadline)
        except AzureError as exc:
            exc.wrote = False  # failed before any PUT: the write limit gets its slot back
            raise
        lng, attempts, precondition_retries = first, 0, 0
        while True:
            if lng.ip == new_ip and lng.provisioning_state != "Failed":
                if lng.provisioning_state in ("Updating", "Creating"):
                    lng = self._wait_provisioned(deadline, what)
                seconds = round(self.clock() - start, 3)
                return UpdateResult(first.ip != new_ip, first.ip, new_ip, attempts, seconds)
            if attempts >= MAX_PUTS or self.clock() >= deadline:
                raise AzureTimeoutError(
                    f"gave up {what} after {attempts} writes: the gateway still reports "
                    f"{lng.ip} ({lng.provisioning_state})"
                )
            attempts += 1
            body = copy.deepcopy(lng.raw)
            body.setdefault("properties", {})["gatewayIpAddress"] = new_ip
            log.info(
                "LNG %s: gatewayIpAddress %s -> %s (If-Match %s)",
                s.local_network_gateway,
                lng.ip,
                new_ip,
                lng.etag,
            )
            try:
                self._put_and_wait(body, lng.etag, deadline, what)
            except AzureError as err:
                if err.status == 412 and precondition_retries == 0:
                    precondition_retries += 1
                    log.warning("LNG changed since we read it (412); re-reading once")
                elif isinstance(err, AzureBusyError):
                    if self._get_lng(deadline).ip != new_ip:
                        raise
                    log.warning("409 but the LNG already has %s (our lost PUT); waiting", new_ip)
                else:
                    raise
            lng = self._get_lng(deadline)

    def _put_and_wait(self, body: dict, etag: str | None, deadline: float, what: str) -> None:
        s = self.settings
        ops = self._network().local_network_gateways
        headers = {"If-Match": etag} if etag else {}
        poller = self._call(
            lambda: ops.begin_create_or_update(
                s.resource_group, s.local_network_gateway, body, headers=headers
            ),
            what,
            s.lng_id,
            deadline,
        )
        # A broken poll is not the end: the caller re-reads the LNG and converges.
        self._wait_poller(poller, deadline, what, s.lng_id, tolerate_transient=True)

    def _wait_poller(
        self, poller: Any, deadline: float, what: str, rid: str, *, tolerate_transient: bool = False
    ) -> None:
        from azure.core.exceptions import AzureError as SdkError

        try:
            poller.result(timeout=max(0.0, deadline - self.clock()))
        except SdkError as exc:
            err = self._error(exc, what, rid)
            transient = classify(exc) == "transient"
            if transient and tolerate_transient:
                log.warning("polling the Azure operation failed (%s); re-reading", err)
                return
            if transient or err.status is None or err.status < 400:
                # The operation itself failed (LRO Failed, status 200) or polling broke.
                raise AzureError(
                    f"the Azure operation failed while {what}: {err}",
                    status=err.status,
                    code=err.code,
                ) from None
            raise err from None
        if not poller.done():
            raise AzureTimeoutError(
                f"Azure did not finish {what} before the deadline (last status "
                f"{poller.status()}); it may still complete: the next cycle re-reads it"
            )

    def _wait_provisioned(self, deadline: float, what: str) -> LngView:
        while True:
            lng = self._get_lng(deadline)
            if lng.provisioning_state == "Failed":
                raise AzureError(f"the local network gateway is in state Failed after {what}")
            if lng.provisioning_state not in ("Updating", "Creating"):
                return lng
            if self.clock() + self.polling_interval >= deadline:
                raise AzureTimeoutError(f"Azure did not finish {what} before the deadline")
            self.sleep(self.polling_interval)

    # ---- connection ----------------------------------------------------------------------
    def _connection_name(self) -> str:
        if not self.settings.connection:
            raise ConfigError(
                "is not set: the VNG connection name is needed for this", key="azure.connection"
            )
        return self.settings.connection

    def get_connection(
        self, *, deadline_s: float = 30.0, name: str | None = None
    ) -> ConnectionView:
        """Azure's view of the tunnel: ``connectionStatus`` and traffic counters (``name``:
        another connection of the same subscription and resource group than the configured one)."""
        s, name = self.settings, name or self._connection_name()
        ops = self._network().virtual_network_gateway_connections
        model = self._call(
            lambda: ops.get(s.resource_group, name),
            "reading the VPN connection",
            s.resource_id("connections", name),
            self._deadline(deadline_s),
        )
        return ConnectionView.from_json(model.as_dict())

    def reset_connection(self, *, deadline_s: float = 120.0) -> None:
        """POST resetconnection on the VNG connection and wait for it to finish."""
        s, name = self.settings, self._connection_name()
        rid, what = s.resource_id("connections", name), "resetting the VPN connection"
        deadline = self._deadline(deadline_s)
        ops = self._network().virtual_network_gateway_connections
        poller = self._call(
            lambda: ops.begin_reset_connection(s.resource_group, name), what, rid, deadline
        )
        self._wait_poller(poller, deadline, what, rid)
        log.info("connection %s reset", name)
