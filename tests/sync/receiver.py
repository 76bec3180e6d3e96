"""A hospital system stand-in: an HTTP server on 127.0.0.1 that records pushed events.

It can be told to answer with an error status or to hang (bounded) before answering, and it
stores each request before it answers, as a real receiver would: a sender that dies after
the POST will send again, and dedupe by ``Idempotency-Key`` is the receiver's job.
"""

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    headers: dict
    body: bytes
    arrived_at: float

    @property
    def key(self) -> str:
        return self.headers.get("Idempotency-Key", "")

    @property
    def json(self) -> dict:
        return json.loads(self.body)

    @property
    def event_id(self) -> str:
        return self.json["identifier"]["value"]


@dataclass
class Behaviour:
    fail_statuses: list = field(default_factory=list)  # answer these statuses to the next requests, in turn
    hang_seconds: float = 0.0  # hold every request this long before answering
    hang_requests: int = 0  # how many of the next requests hang
    delay_seconds: float = 0.0  # a slow receiver: every request answered this long after it arrived


class Receiver:
    def __init__(self):
        self.received: list[Received] = []
        self.behaviour = Behaviour()
        self.lock = threading.Lock()
        self.in_flight = 0  # requests being answered now
        self.max_in_flight = 0  # the most at once so far
        self.hanging = threading.Event()
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if len(body) < length:
                    return  # the sender died mid-request: a server drops an incomplete request unrecorded
                with receiver.lock:
                    receiver.received.append(Received(dict(self.headers), body, time.monotonic()))
                    receiver.in_flight += 1
                    receiver.max_in_flight = max(receiver.max_in_flight, receiver.in_flight)
                    behaviour = receiver.behaviour
                    status = behaviour.fail_statuses.pop(0) if behaviour.fail_statuses else 200
                    hang = 0.0
                    if behaviour.hang_requests > 0:
                        behaviour.hang_requests -= 1
                        hang = behaviour.hang_seconds
                    delay = behaviour.delay_seconds
                if hang:
                    receiver.hanging.set()
                    receiver.release.wait(timeout=hang)
                if delay:
                    time.sleep(delay)
                with receiver.lock:
                    receiver.in_flight -= 1
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok": true}' if status < 300 else b'{"error": "told to fail"}')

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/fhir/inbox"

    def start(self) -> "Receiver":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def fail_next(self, *statuses: int) -> None:
        with self.lock:
            self.behaviour.fail_statuses.extend(statuses)

    def hang_next(self, seconds: float, count: int = 1) -> None:
        with self.lock:
            self.behaviour.hang_seconds = seconds
            self.behaviour.hang_requests = count
            self.hanging.clear()
            self.release.clear()

    def slow_down(self, seconds: float) -> None:
        """Answer every request from now on ``seconds`` after it arrived (stored at arrival, as before)."""
        with self.lock:
            self.behaviour.delay_seconds = seconds

    def keys(self) -> list[str]:
        with self.lock:
            return [item.key for item in self.received]

    def deduped(self) -> list[Received]:
        """Requests after dropping repeats of an idempotency key, in order of first arrival."""
        seen, unique = set(), []
        with self.lock:
            for item in self.received:
                if item.key not in seen:
                    seen.add(item.key)
                    unique.append(item)
        return unique
