"""A fault-injecting HTTP proxy in front of the S3 endpoint (moto's server).

moto answers like S3 but never refuses access or drops a multipart upload half-way. This proxy
forwards every request unchanged, except those a test's `fault` function picks, which get the
status and S3 error body the test chooses, as a real S3 or MinIO would send them.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# (method, path with query) -> None to forward, or (status, S3 error code) to answer instead.
Fault = Callable[[str, str], tuple[int, str] | None]
ERROR_BODY = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Error><Code>{code}</Code><Message>{code} (injected)</Message></Error>"
)


class S3FaultProxy:
    def __init__(self, upstream: str, fault: Fault) -> None:
        self.upstream = urlsplit(upstream)
        self.fault = fault
        self.requests: list[tuple[str, str]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> S3FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                """Silenced: tests read `proxy.requests`."""

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                proxy.requests.append((self.command, self.path))
                injected = proxy.fault(self.command, self.path)
                if injected is not None:
                    status, code = injected
                    payload = ERROR_BODY.format(code=code).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                upstream = http.client.HTTPConnection(
                    proxy.upstream.hostname, proxy.upstream.port, timeout=30
                )
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                payload = response.read()
                self.send_response(response.status)
                skipped = {"transfer-encoding", "connection"}
                if self.command != "HEAD":  # a HEAD's length is the object's: keep it
                    skipped.add("content-length")
                    self.send_header("Content-Length", str(len(payload)))
                for name, value in response.getheaders():
                    if name.lower() not in skipped:
                        self.send_header(name, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)
                upstream.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _relay

        return Handler
