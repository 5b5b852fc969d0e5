"""A stand-in for the Hugging Face Hub on localhost, for trainer/init_hub.py's tests: the three
requests huggingface_hub 2.4.0 makes to fetch a file of a model repo, answered the way the hub
answers them (checked against huggingface_hub 2.4.0 hf_api.py model_info, file_download.py
get_hf_file_metadata and utils/_http.py hf_raise_for_status):

- GET /api/models/{repo}/revision/{rev}: {"id", "sha", "siblings": [{"rfilename", "size"}]}.
  Gated repos answer it without a token too (the gate is on the files).
- HEAD and GET /{repo}/resolve/{rev}/{path}: the file, with X-Repo-Commit and ETag.
- Errors as headers: X-Error-Code RepoNotFound / RevisionNotFound / EntryNotFound / GatedRepo
  (401 without a token, 403 for a token not on the repo's list), and a token the hub does not
  know: 401 with X-Error-Message "Invalid credentials in Authorization header".

Every request is recorded in `requests`, so a test can count what a download cost.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit


@dataclass
class Repo:
    # {commit sha: {path: content}}; refs: {branch or tag: commit sha}
    commits: dict[str, dict[str, bytes]]
    refs: dict[str, str]
    gated: bool = False
    authorized: set[str] = field(default_factory=set)  # tokens on the gated repo's list
    # (path, commit) -> how many more GETs of it answer 500 (a hub hiccup mid-download)
    fail_gets: dict[tuple[str, str], int] = field(default_factory=dict)

    def commit(self, rev: str) -> str | None:
        return rev if rev in self.commits else self.refs.get(rev)


class FakeHub:
    def __init__(self, repos: dict[str, Repo], tokens: set[str]):
        self.repos, self.tokens = repos, tokens
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self.url = ""

    def record(self, method: str, path: str) -> None:
        with self._lock:
            self.requests.append((method, path))

    def gets(self, suffix: str) -> int:
        """GETs of a file whose path ends with `suffix`."""
        return sum(1 for m, p in self.requests if m == "GET" and p.endswith(suffix))

    @contextmanager
    def serving(self) -> Iterator[FakeHub]:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet
            pass

        def _send(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _error(self, status: int, code: str | None = None, message: str = "") -> None:
            headers = {"X-Error-Message": message} if message else {}
            if code:
                headers["X-Error-Code"] = code
            self._send(status, json.dumps({"error": message or code}).encode(), headers)

        def _token(self) -> str | None:
            auth = self.headers.get("authorization", "")
            return auth.removeprefix("Bearer ").strip() or None

        def do_HEAD(self) -> None:
            self._answer()

        def do_GET(self) -> None:
            self._answer()

        def _answer(self) -> None:
            path = unquote(urlsplit(self.path).path)
            hub.record(self.command, path)
            token = self._token()
            if token is not None and token not in hub.tokens:
                return self._error(401, None, "Invalid credentials in Authorization header")
            if path.startswith("/api/models/"):
                return self._info(path[len("/api/models/") :])
            org, name, kind, rest = (path.lstrip("/").split("/", 3) + ["", "", ""])[:4]
            if kind != "resolve":
                return self._error(404, None, "unknown route")
            return self._file(f"{org}/{name}", rest, token)

        def _info(self, rest: str) -> None:
            repo_id, _, rev = rest.partition("/revision/")
            repo = hub.repos.get(repo_id)
            if repo is None:
                return self._error(404, "RepoNotFound", "Repository not found")
            sha = repo.commit(rev or "main")
            if sha is None:
                return self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
            files = repo.commits[sha]
            body = {
                "id": repo_id,
                "sha": sha,
                "gated": "manual" if repo.gated else False,
                "siblings": [{"rfilename": p, "size": len(c)} for p, c in sorted(files.items())],
            }
            self._send(200, json.dumps(body).encode(), {"Content-Type": "application/json"})

        def _file(self, repo_id: str, rest: str, token: str | None) -> None:
            repo = hub.repos.get(repo_id)
            if repo is None:
                return self._error(404, "RepoNotFound", "Repository not found")
            if repo.gated and token is None:
                msg = f"Access to model {repo_id} is restricted. You must have access to it and be authenticated to access it. Please log in."
                return self._error(401, "GatedRepo", msg)
            if repo.gated and token not in repo.authorized:
                msg = f"Access to model {repo_id} is restricted and you are not in the authorized list."
                return self._error(403, "GatedRepo", msg)
            rev, _, filename = rest.partition("/")
            sha = repo.commit(rev)
            if sha is None:
                return self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
            content = repo.commits[sha].get(filename)
            if content is None:
                return self._error(404, "EntryNotFound", f"{filename} does not exist")
            if self.command == "GET" and repo.fail_gets.get((filename, sha), 0) > 0:
                repo.fail_gets[(filename, sha)] -= 1
                return self._error(500, None, "Internal Error")
            etag = hashlib.sha256(content).hexdigest()
            self._send(200, content, {"X-Repo-Commit": sha, "ETag": f'"{etag}"'})

    return Handler
