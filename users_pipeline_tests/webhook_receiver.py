"""A Slack-style incoming webhook on 127.0.0.1 that records what it is posted: the alert tests'
stand-in for Slack, Mattermost or Rocket.Chat. Its path is a secret key, as a Slack webhook's."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET_PATH = "/services/T0PIPELINE/B0ALERTS/s3cr3tWebhookKey"


class WebhookReceiver:
    """Records each `{"text": ...}` POSTed to `url` in `texts`; answers 500 to the next
    `fail_next` posts (not recorded), as a webhook that is down."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.fail_next = 0
        self.refused = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    failing = receiver.fail_next > 0 or self.path != SECRET_PATH
                    if failing:
                        receiver.fail_next = max(receiver.fail_next - 1, 0)
                        receiver.refused += 1
                    else:
                        receiver.texts.append(json.loads(body)["text"])
                self.send_response(500 if failing else 200)
                self.end_headers()
                self.wfile.write(b"no_service" if failing else b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}{SECRET_PATH}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def posted(self, containing: str) -> list[str]:
        with self._lock:
            return [text for text in self.texts if containing in text]
