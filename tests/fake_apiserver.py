"""A local HTTP server answering Kubernetes API GETs from recorded objects (and writes, when a
test answers them), so the official client really runs in tests (kubeconfig loading, label
selectors, log reads, deletes and creates) with no cluster."""

from __future__ import annotations

import json
import threading
import time
import types
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import yaml
from kubernetes import client as k8s

JSON = "application/json"
# (status code, body, content type) for a GET of (path, query)
Answer = Callable[[str, dict], tuple[int, bytes, str]]
# the same for a POST/PUT/PATCH/DELETE of (method, path, query, JSON body or None)
WriteAnswer = Callable[[str, str, dict, object], tuple[int, bytes, str]]


def record_sleeps(monkeypatch) -> list[float]:
    """Waits of `trainstack logs`, recorded instead of slept; a runaway wait fails the test
    instead of hanging it."""
    from trainstack.ops import jobs

    made: list[float] = []

    def sleep(seconds: float) -> None:
        made.append(seconds)
        if len(made) > 50:
            raise AssertionError("trainstack logs kept waiting")

    # jobs' own view of `time` only: the server threads and the client keep the real one.
    monkeypatch.setattr(jobs, "time", types.SimpleNamespace(sleep=sleep, monotonic=time.monotonic))
    return made


def status(code: int, reason: str, message: str = "") -> tuple[int, bytes, str]:
    """An error as the API server sends it: a Status object."""
    return (
        code,
        json.dumps(
            {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "reason": reason,
                "message": message,
                "code": code,
            }
        ).encode(),
        JSON,
    )


def from_routes(routes: dict[str, object]) -> Answer:
    """Answer GETs of the listed paths with their bodies (client models or dicts); 404 else."""
    bodies = {
        path: k8s.ApiClient().sanitize_for_serialization(body) for path, body in routes.items()
    }

    def answer(path: str, query: dict) -> tuple[int, bytes, str]:
        if path in bodies:
            return 200, json.dumps(bodies[path]).encode(), JSON
        return status(404, "NotFound")

    return answer


def matches(labels: dict | None, query: dict) -> bool:
    """Whether labels satisfy the request's labelSelector (equality terms, as the CLI sends)."""
    for selector in query.get("labelSelector", []):
        for term in filter(None, selector.split(",")):
            key, _, value = term.partition("=")
            if (labels or {}).get(key) != value:
                return False
    return True


def write_kubeconfig(path: Path, server: str, context: str = "ctx") -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": context,
                "clusters": [{"name": "c", "cluster": {"server": server}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": context, "context": {"cluster": "c", "user": "u"}}],
            }
        )
    )
    return path


class FakeApiServer:
    """GETs answered by `answer`; writes by `write` (405 without one), each recorded in
    `writes` as (method, path, body)."""

    def __init__(self, answer: Answer, write: WriteAnswer | None = None):
        self.requests: list[tuple[str, dict]] = []
        self.writes: list[tuple[str, str, object]] = []
        requests, writes = self.requests, self.writes

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                url = urlparse(self.path)
                query = parse_qs(url.query)
                requests.append((url.path, query))
                code, data, kind = answer(url.path, query)
                self._send(code, data, kind)

            def _send(self, code, data, kind):
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _write(self):
                url = urlparse(self.path)
                size = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(size) if size else b""
                body = json.loads(raw) if raw else None
                writes.append((self.command, url.path, body))
                if write is None:
                    self._send(*status(405, "MethodNotAllowed"))
                else:
                    self._send(*write(self.command, url.path, parse_qs(url.query), body))

            do_POST = do_PUT = do_PATCH = do_DELETE = _write

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        # A short poll: shutdown() waits for serve_forever's next poll, 0.5 s by default, which
        # every test using a server paid at teardown.
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    def kubeconfig(self, path: Path, context: str = "ctx") -> str:
        """A kubeconfig pointing at this server, as the path string a --kubeconfig takes."""
        return str(write_kubeconfig(path, self.url, context))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve(server_class):
    """A fixture's body: a factory starting `server_class` servers, all closed after the
    test (`yield from serve(FakeApi)`)."""
    made = []

    def start(*args, **kwargs):
        made.append(server_class(*args, **kwargs))
        return made[-1]

    yield start
    for server in made:
        server.close()


def cluster_servers(tmp_path: Path):
    """A fixture's body: start(cluster) gives (server, kubeconfig path) for a recorded cluster
    answering through its `get` and `write`; every server is closed after the test."""
    starter = serve(FakeApiServer)
    make = next(starter)

    def start(cluster):
        server = make(cluster.get, cluster.write)
        return server, server.kubeconfig(tmp_path / "kubeconfig")

    yield start
    next(starter, None)
