"""``FakeAzure``: Entra ID + ARM over HTTPS on one ephemeral loopback port.

    with FakeAzure() as fake:
        cred = ClientSecretCredential(fake.tenant_id, fake.client_id, fake.client_secret,
                                      authority=fake.url, disable_instance_discovery=True,
                                      connection_verify=fake.ca_path)
        client = NetworkManagementClient(cred, fake.names.subscription_id,
                                         base_url=fake.url, connection_verify=fake.ca_path)

Attributes: ``url``, ``ca_path`` (CA bundle PEM), ``tenant_id``, ``client_id``,
``client_secret``, ``client_cert_path`` (PEM: key + certificate, for CertificateCredential),
``names`` (subscription, resource group, resource names), ``requests`` (recorded requests:
method, path, query, headers without Authorization, body with secrets masked, status),
``violations`` (spec mismatches of requests and responses), ``faults``, ``arm`` (state).

``retry_after`` is the integer ``Retry-After`` on LRO answers (the SDK rejects fractions; ``None``
omits it; ``0`` makes the SDK fall back to its ``polling_interval``, 30 s unless the client
sets it). ``api_versions``: the SDK's default and the spec's are accepted, others get 400
``InvalidApiVersionParameter``.

Every response carries ``x-ms-request-id`` and ``x-ms-correlation-request-id``.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import re
import shutil
import socket
import ssl
import tempfile
import threading
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import trustme

from .arm import OP_RE, Arm
from .common import Reply
from .entra import Entra
from .faults import Faults
from .schema import API_VERSION, ERROR, OPERATION_STATUS
from .seed import Names
from .spec import Spec
from .tenancy import STATS_PATH, Principal, Site, Sites, Tenancy

log = logging.getLogger(__name__)

SPEC_API_VERSION = API_VERSION  # the REST contract of tests/fakeazure/schema.py
SDK_API_VERSION = "2026-03-01"  # azure-mgmt-network 33.x default (LAB-FACTS)
MASKED_FORM_FIELDS = ("client_secret", "client_assertion")
_ENTRA_PATHS = (
    ("GET", r"^/([^/]+)/v2\.0/\.well-known/openid-configuration$", "oidc2"),
    ("GET", r"^/([^/]+)/\.well-known/openid-configuration$", "oidc1"),
    ("POST", r"^/([^/]+)/oauth2/v2\.0/token$", "token2"),
    ("POST", r"^/([^/]+)/oauth2/token$", "token1"),
)

_contract: list[Spec] = []


def load_spec() -> Spec:
    """The repository's REST facts as a checker (built once per process)."""
    if not _contract:
        _contract.append(Spec.contract())
    return _contract[0]


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], handler: type, ctx: ssl.SSLContext, fake: FakeAzure):
        self.ssl_ctx = ctx
        self.fake = fake
        super().__init__(addr, handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # TLS handshake in the connection's own thread, so a stuck client blocks nobody.
        try:
            tls = self.ssl_ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            log.debug("TLS handshake from %s failed: %s", client_address, exc)
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            with contextlib.suppress(OSError):
                tls.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeAzure/1.0"
    server: _TLSServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s " + format, self.client_address[0], *args)

    def do_GET(self) -> None:
        self.server.fake._serve(self)

    do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = do_GET


class FakeAzure(Sites):
    """Entra ID + ARM fake; use as a context manager or call ``start()``/``stop()``."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        on_lng_change: Callable[[dict, dict], Any] | None = None,
        retry_after: int | None = 1,
        names: Names | None = None,
        sites: tuple[Names, ...] = (),
        api_versions: tuple[str, ...] = (SDK_API_VERSION, SPEC_API_VERSION),
        token_lifetime: int = 3599,
        spec: Spec | None = None,
    ) -> None:
        self.host, self._port = host, port
        self.on_lng_change = on_lng_change
        self.retry_after = retry_after
        self._initial = (on_lng_change, retry_after)
        self.names = names or Names()
        self._sites = tuple(sites)  # more LNGs (own subscription => own principal), see tenancy
        self.api_versions = api_versions
        self.spec = spec or load_spec()
        self.tenant_id = "72f988bf-0000-4000-8000-5a2b3c4d5e6f"
        self.client_id = "3c1e2d4f-0000-4000-8000-000000c11e47"
        self.object_id = "9a8b7c6d-0000-4000-8000-0000000b1ec7"
        self.client_secret = "fake~" + uuid.uuid4().hex
        self.requests: list[dict[str, Any]] = []
        self.violations: list[str] = []
        self.faults = Faults()
        self._lock = threading.Lock()
        self._tmp = Path(tempfile.mkdtemp(prefix="fakeazure-"))
        self._ca = trustme.CA(key_type=trustme.KeyType.RSA)
        self.ca_path = str(self._tmp / "ca.pem")
        self._ca.cert_pem.write_to_path(self.ca_path)
        client = self._ca.issue_cert("s2s-agent.client.invalid", key_type=trustme.KeyType.RSA)
        self.client_cert_path = str(self._tmp / "client.pem")
        Path(self.client_cert_path).write_bytes(
            client.private_key_pem.bytes() + client.cert_chain_pems[0].bytes()
        )
        self._client_cert_pem = client.cert_chain_pems[0].bytes()
        self._httpd: _TLSServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""
        self.entra: Entra
        self.arm: Arm

    # ---- lifecycle ----------------------------------------------------------------------
    def start(self) -> FakeAzure:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ca.issue_cert(self.host, "localhost").configure_cert(ctx)
        self._httpd = _TLSServer((self.host, self._port), _Handler, ctx, self)
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"https://{host}:{self._httpd.server_address[1]}"
        self.entra = Entra(
            base_url=self.url,
            tenant_id=self.tenant_id,
            client_id=self.client_id,
            client_secret=self.client_secret,
            client_cert_pem=self._client_cert_pem,
        )
        self.entra.other_clients = lambda cid: self.tenancy.secret(cid)
        self.reset()
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="fakeazure", daemon=True
        )
        self._thread.start()
        log.info("fake Azure listening on %s", self.url)
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self.arm.finish_all(timeout=5)
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> FakeAzure:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Fresh seeded state; no faults, requests or violations; constructor's hook and
        retry_after again (issued tokens survive)."""
        self.faults.reset()
        self.on_lng_change = self._initial[0]
        self.retry_after = self._initial[1]
        with self._lock:
            self.requests.clear()
            self.violations.clear()
        self.arm = Arm(self)
        me = Principal(
            self.client_id, self.client_secret, self.object_id, {self.names.subscription_id}
        )
        self.tenancy = Tenancy(Site(self.names, me))
        self._seed(self.names)
        for names in self._sites:
            self.add_site(names)

    # ---- state helpers for tests --------------------------------------------------------
    @property
    def lng_id(self) -> str:
        return self.names.resource_id("localNetworkGateways", self.names.lng_name)

    @property
    def connection_id(self) -> str:
        return self.names.resource_id("connections", self.names.connection_name)

    def resource(self, resource_id: str) -> dict[str, Any]:
        with self.arm.lock:
            return copy.deepcopy(self.arm.resources[resource_id.lower()])

    def lng(self, lng_name: str | None = None) -> dict[str, Any]:
        return self.resource(self.lng_id_of(lng_name))

    def connection(self) -> dict[str, Any]:
        return self.resource(self.connection_id)

    def set_connection(self, **props: Any) -> None:
        """Set e.g. ``connectionStatus="NotConnected"`` on the seeded connection."""
        with self.arm.lock:
            self.arm.resources[self.connection_id.lower()]["properties"].update(props)

    def expire_tokens(self) -> None:
        self.entra.expire_tokens()

    def finish_operations(self, timeout: float = 10.0) -> None:
        self.arm.finish_all(timeout)

    def token(self) -> str:
        """A valid bearer token for raw requests (bypasses MSAL)."""
        reply = self.entra.token(
            self.tenant_id,
            {
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "scope": "https://management.azure.com/.default",
            },
            v2=True,
        )
        return reply.body["access_token"]

    def arm_requests(self, method: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                r
                for r in self.requests
                if r["path"].lower().startswith("/subscriptions/")
                and (method is None or r["method"] == method)
            ]

    # ---- request handling ---------------------------------------------------------------
    def _serve(self, h: _Handler) -> None:
        parts = urlsplit(h.path)
        path = parts.path
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        body, body_error, form = None, None, None
        ctype = h.headers.get("Content-Type", "")
        if raw and "x-www-form-urlencoded" in ctype:
            form = {k: v[0] for k, v in parse_qs(raw.decode(errors="replace")).items()}
        elif raw:
            try:
                body = json.loads(raw)
            except ValueError as exc:
                body_error = f"Body is not JSON: {exc}"
        record = {
            "method": h.command,
            "path": path,
            "query": query,
            "headers": {k: v for k, v in h.headers.items() if k.lower() != "authorization"},
            "body": (
                {k: ("***" if k in MASKED_FORM_FIELDS else v) for k, v in form.items()}
                if form is not None
                else body
            ),
            "status": None,
        }
        if path == STATS_PATH and h.command == "GET":  # test-only, not Azure (not recorded)
            return self._send(h, Reply(200, self.stats()))
        with self._lock:
            self.requests.append(record)
        is_arm = path.lower().startswith("/subscriptions/")
        op = None
        if is_arm and not OP_RE.match(path):
            op, problems = self.spec.check_request(h.command, path, query, body, has_body=bool(raw))
            if body_error:
                problems.append(f"{h.command} {path}: {body_error}")
            self._violate(problems)
            if problems and body is not None and h.command in ("PUT", "PATCH") and op is not None:
                body_error = "; ".join(problems)
        fault = self.faults.take(h.command, path)
        if fault is not None and fault.drop and not fault.drop_after:
            record["status"] = "dropped"
            return self._drop(h)
        if fault is not None and not fault.drop:
            hdrs = dict(fault.headers)
            if fault.retry_after is not None:
                hdrs["Retry-After"] = str(fault.retry_after)
            reply = Reply(
                fault.status,
                fault.cloud_error()
                if is_arm or fault.body is not None
                else {"error": "temporarily_unavailable"},
                hdrs,
            )
        elif is_arm:
            reply = self.arm.handle(h.command, path, query, h.headers, body, body_error)
        else:
            reply = self._entra(h.command, path, form or {})
        record["status"] = reply.status
        if is_arm:
            self._check_response(op, path, reply)
        if fault is not None and fault.drop_after:
            record["status"] = f"dropped ({reply.status} not sent)"
            return self._drop(h)
        self._send(h, reply)

    @staticmethod
    def _drop(h: _Handler) -> None:
        h.close_connection = True
        with contextlib.suppress(OSError):
            h.connection.shutdown(socket.SHUT_RDWR)

    def _entra(self, method: str, path: str, form: dict[str, str]) -> Reply:
        for verb, pattern, kind in _ENTRA_PATHS:
            m = re.match(pattern, path)
            if m and verb == method:
                tenant = m.group(1)
                if kind.startswith("oidc"):
                    return self.entra.openid_configuration(tenant, v2=kind == "oidc2")
                return self.entra.token(tenant, form, v2=kind == "token2")
        return Reply(
            404,
            {
                "error": "not_found",
                "error_description": f"fake Entra has no endpoint {method} {path}",
            },
        )

    def _check_response(self, op: Any, path: str, reply: Reply) -> None:
        if OP_RE.match(path):
            if reply.status == 200:
                schema = self.spec.ref_for(OPERATION_STATUS)
            elif reply.status >= 300:
                schema = self.spec.ref_for(ERROR)
            else:
                return
            self._violate(
                self.spec.validate(schema, reply.body, where=f"GET {path} -> {reply.status}")
            )
        elif op is not None:
            self._violate(self.spec.check_response(op, reply.status, reply.body))

    def _violate(self, problems: list[str]) -> None:
        if problems:
            for p in problems:
                log.warning("spec violation: %s", p)
            with self._lock:
                self.violations.extend(problems)

    def _send(self, h: _Handler, reply: Reply) -> None:
        data = b"" if reply.body is None else json.dumps(reply.body).encode()
        h.send_response(reply.status)
        if reply.body is not None:
            h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(data)))
        h.send_header("Cache-Control", "no-cache")
        h.send_header("x-ms-request-id", str(uuid.uuid4()))
        h.send_header(
            "x-ms-correlation-request-id",
            h.headers.get("x-ms-correlation-request-id") or str(uuid.uuid4()),
        )
        for k, v in reply.headers.items():
            h.send_header(k, v)
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(data)
