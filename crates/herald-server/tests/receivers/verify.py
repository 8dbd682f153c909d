"""Webhook receivers that verify requests the way their platforms document it.

Usage: python3 verify.py CONVENTION SECRET [RATE]
Prints the port it listens on (127.0.0.1), then answers every POST or PUT: 200 when the
signature verifies with SECRET, 401 when it does not. CONVENTION is one of:

- elenik: the sample receiver of the Elenik webhook guide (a Flask app in the guide): the hex
  HMAC-SHA256 of the raw body, compared with `X-Elenik-Signature`; the JSON body's `event` is read.
- github: GitHub's documented check: "sha256=" + hex HMAC-SHA256 of the raw body against
  `X-Hub-Signature-256` (each of the comma-separated values, as a repeated header arrives).
- stripe: Stripe's documented manual check: `Stripe-Signature: t=...,v1=...`; the HMAC-SHA256 of
  "{t}.{body}" against any `v1`, with a five-minute tolerance on `t`.
- cloudevents: a CloudEvents Web Hook 1.0 receiver with abuse protection: it answers the
  validation request (OPTIONS) with 200, `WebHook-Allowed-Origin` and `WebHook-Allowed-Rate: RATE`
  when `WebHook-Request-Origin` is SECRET (the origin it trusts), 403 otherwise; notifications
  get 200. No signature is checked.

Every request is logged; `GET /requests` answers the log as JSON.
"""

import hashlib
import hmac
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONVENTION, SECRET = sys.argv[1], sys.argv[2]


def elenik(headers, payload):
    # The guide's receiver, line for line (Flask's request.data / request.headers / request.json).
    signature_received = headers.get("X-Elenik-Signature")
    secret = SECRET
    mac = hmac.new(secret.encode(), msg=payload, digestmod=hashlib.sha256)
    if signature_received is None or not hmac.compare_digest(signature_received, mac.hexdigest()):
        return False
    data = json.loads(payload)
    print(f"Received event: {data['event']}", file=sys.stderr)
    return True


def github(headers, payload):
    signature_header = headers.get("X-Hub-Signature-256")
    if not signature_header:
        return False
    hash_object = hmac.new(SECRET.encode("utf-8"), msg=payload, digestmod=hashlib.sha256)
    expected_signature = "sha256=" + hash_object.hexdigest()
    return any(hmac.compare_digest(expected_signature, value.strip()) for value in signature_header.split(","))


def stripe(headers, payload):
    header = headers.get("Stripe-Signature")
    if not header:
        return False
    timestamp, signatures = None, []
    for item in header.split(","):
        key, _, value = item.partition("=")
        if key == "t":
            timestamp = value
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or abs(time.time() - int(timestamp)) > 300:
        return False
    signed_payload = f"{timestamp}.{payload.decode('utf-8')}"
    expected = hmac.new(SECRET.encode("utf-8"), signed_payload.encode("utf-8"), hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, signature) for signature in signatures)


CHECKS = {"elenik": elenik, "github": github, "stripe": stripe, "cloudevents": lambda headers, payload: True}
LOG = []


class Handler(BaseHTTPRequestHandler):
    def answer(self):
        payload = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        LOG.append({"method": self.command, "headers": {k.lower(): v for k, v in self.headers.items()}})
        ok = CHECKS[CONVENTION](self.headers, payload)
        body = b"OK" if ok else b"Invalid signature"
        self.send_response(200 if ok else 401)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = answer
    do_PUT = answer

    def do_OPTIONS(self):
        LOG.append({"method": "OPTIONS", "headers": {k.lower(): v for k, v in self.headers.items()}})
        origin = self.headers.get("WebHook-Request-Origin")
        if CONVENTION == "cloudevents" and origin == SECRET:
            self.send_response(200)
            self.send_header("WebHook-Allowed-Origin", origin)
            self.send_header("WebHook-Allowed-Rate", sys.argv[3] if len(sys.argv) > 3 else "*")
            self.send_header("Allow", "POST")
        else:
            self.send_response(403)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        body = json.dumps(LOG).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
