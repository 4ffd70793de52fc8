"""Local stand-ins for the outside world: a robot webhook (HTTP) and an SMTP server, on 127.0.0.1."""
from __future__ import annotations

import json
import socket
import threading
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller


class FakeRobot:
    """Records every POST (JSON body); answers 500 to the first ``fail_first`` requests."""

    def __init__(self, fail_first: int = 0) -> None:
        self.received: list[dict] = []
        self.requests = 0
        self.fail_first = fail_first
        self.lock = threading.Lock()
        robot = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the name the server library calls
                length = int(self.headers.get("Content-Length", 0))
                payload = self.rfile.read(length)
                with robot.lock:
                    robot.requests += 1
                    failing = robot.requests <= robot.fail_first
                    if not failing:
                        robot.received.append(json.loads(payload))
                self.send_response(500 if failing else 200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"errcode": 0}')

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/robot"

    def bodies(self) -> list[str]:
        return [item["message"] for item in self.received]

    def __enter__(self) -> "FakeRobot":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class FakeSmtp:
    """aiosmtpd on a free local port; ``messages`` are parsed emails."""

    def __init__(self) -> None:
        self.messages = []
        outer = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 - the name the server library calls
                message = message_from_bytes(envelope.content, policy=policy.default)
                outer.messages.append((envelope.rcpt_tos, message))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def url(self, to: str = "jiuzhu@example.cn") -> str:
        return f"mailto://127.0.0.1:{self.port}/?from=duban@example.cn&to={to}&smtp=127.0.0.1&format=text"

    def bodies(self) -> list[str]:
        return [message.get_body(("plain",)).get_content().strip() for _, message in self.messages]

    def __enter__(self) -> "FakeSmtp":
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()
