"""Schemathesis hooks for `.ci/api-fuzz`: sign the internal API's POSTs as a zone does
(HMAC-SHA256 over method, path, time and the SHA-256 of the body, with the development
control secret the fuzzed orchestrator runs with), so the fuzzer reaches the routes
behind the signature instead of only their 401s. See
`shared-protocol/service/src/control_auth.rs`."""

import base64
import hashlib
import hmac
import json
import time

import schemathesis

SECRET = b"arcane-dev-control-secret-change-me"
SIGNED = {"/v1/zones/register", "/v1/zones/heartbeat", "/v1/zones/deregister", "/v1/transfers"}


def body_bytes(body):
    """The bytes the requests transport sends for a JSON body (none when unset)."""
    if type(body).__name__ == "NotSet":
        return b""
    if isinstance(body, bytes):
        return body
    if body is None:
        return b"null"
    return json.dumps(body, allow_nan=False).encode("utf-8")


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.method.upper() != "POST" or case.operation.path not in SIGNED:
        return
    headers = dict(case.headers or {})
    # A case that leaves the headers out on purpose (negative testing) stays unsigned.
    if "x-arcane-timestamp" not in headers or "x-arcane-signature" not in headers:
        return
    now = str(int(time.time() * 1000))
    body = body_bytes(case.body)
    mac = hmac.new(SECRET, digestmod=hashlib.sha256)
    for part in (b"POST", b"\n", case.formatted_path.encode(), b"\n", now.encode(), b"\n"):
        mac.update(part)
    mac.update(hashlib.sha256(body).digest())
    signature = base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()
    headers["x-arcane-timestamp"] = now
    headers["x-arcane-signature"] = signature
    case.headers = headers
