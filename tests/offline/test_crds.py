"""The pinned CRDs: downloaded over real HTTP (a loopback server), verified, cached, refused."""

from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

import pytest
from crd_mirror import lagging_groups

from components import versions
from trainstack.cli import main as cli_main
from trainstack.offline import crds

BODY = {
    "a.yaml": b"kind: CustomResourceDefinition # a\n",
    "b.yaml": b"kind: CustomResourceDefinition # b\n",
}


class _Server(http.server.ThreadingHTTPServer):
    hits: list[str]


@pytest.fixture()
def server(tmp_path):
    """Serves tmp_path/www on 127.0.0.1 and records each request path."""
    www = tmp_path / "www"
    www.mkdir()
    for name, body in BODY.items():
        (www / name).write_bytes(body)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(www), **kw)

        def do_GET(self):
            self.server.hits.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    srv = _Server(("127.0.0.1", 0), Handler)
    srv.hits = []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv, www
    srv.shutdown()
    srv.server_close()


@pytest.fixture()
def pins(server, tmp_path, monkeypatch):
    """Two pinned files on the loopback server, an empty user cache, no mirror."""
    srv, _ = server
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    pinned = tuple(
        crds.PinnedCrd(
            name,
            "example.com",
            name.split(".")[0].upper(),
            f"{base}/{name}",
            hashlib.sha256(body).hexdigest(),
        )
        for name, body in BODY.items()
    )
    monkeypatch.setattr(crds, "PINNED", pinned)
    monkeypatch.setattr(crds, "_unreachable", {})
    monkeypatch.delenv("TRAINSTACK_CRD_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return pinned


def test_first_use_downloads_verifies_and_caches_then_never_again(server, pins):
    srv, _ = server
    found = crds.ensure()
    assert found.complete and found.notice() is None
    assert found.directory == crds.cache_dir()
    for crd in pins:
        assert (found.directory / crd.file).read_bytes() == BODY[crd.file]
    # Nothing half-written is left beside them.
    assert sorted(p.name for p in found.directory.iterdir()) == sorted(BODY)
    assert len(srv.hits) == 2
    assert crds.ensure().complete
    assert len(srv.hits) == 2


def test_a_file_that_is_not_the_pinned_one_is_refused_and_not_cached(server, pins):
    _, www = server
    (www / "b.yaml").write_bytes(b"kind: CustomResourceDefinition # another version\n")
    found = crds.ensure()
    assert [c.file for c in found.missing] == ["b.yaml"]
    assert not (crds.cache_dir() / "b.yaml").exists()
    assert any("b.yaml" in p and "is not the pinned" in p for p in found.problems)
    assert found.is_missing("example.com", "B") and not found.is_missing("example.com", "A")
    assert "B" in found.notice() and "make crds" in found.notice()


def test_a_tampered_cache_entry_is_fetched_again(server, pins):
    srv, _ = server
    crds.ensure()
    (crds.cache_dir() / "a.yaml").write_bytes(b"edited by hand\n")
    assert crds.ensure().complete
    assert (crds.cache_dir() / "a.yaml").read_bytes() == BODY["a.yaml"]
    assert srv.hits.count("/a.yaml") == 2


def test_offline_gives_a_notice_after_one_attempt_and_no_traceback(server, pins, monkeypatch):
    srv, _ = server
    srv.shutdown()
    srv.server_close()  # the port now refuses connections
    found = crds.ensure()
    assert not found.available and found.directory is None
    assert found.notice().startswith("not checked against their upstream CRDs")
    assert sum("cannot download" in p for p in found.problems) == 1
    # The unreachable URL is remembered: a second plan in the same process does not wait again.
    calls = []
    crds.ensure(download=lambda url: calls.append(url) or b"")
    assert calls == []


def test_a_mirror_in_the_env_is_used_as_is_and_never_written(server, pins, tmp_path, monkeypatch):
    srv, _ = server
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "a.yaml").write_bytes(BODY["a.yaml"])
    (mirror / "b.yaml").write_bytes(b"another version\n")
    monkeypatch.setenv("TRAINSTACK_CRD_DIR", str(mirror))
    found = crds.ensure()
    assert found.directory == mirror
    assert [c.file for c in found.available] == ["a.yaml"]
    assert [c.file for c in found.missing] == ["b.yaml"]
    assert srv.hits == [] and (mirror / "b.yaml").read_bytes() == b"another version\n"


def test_trainstack_crds_reports_and_check_fails_when_incomplete(server, pins, capsys):
    _, www = server
    (www / "a.yaml").unlink()
    assert cli_main(["crds"]) == 0  # `make demo` carries on without them
    assert "missing A: the plan will validate these kinds only once" in capsys.readouterr().err
    assert cli_main(["crds", "--check"]) == 1
    (www / "a.yaml").write_bytes(BODY["a.yaml"])
    crds._unreachable.clear()
    assert cli_main(["crds", "--check"]) == 0


def test_pins_follow_the_versions_the_stack_installs():
    by_kind = {c.kind: c for c in crds.PINNED}
    trainer = {"TrainJob", "TrainingRuntime"}
    kueue = {
        "ResourceFlavor",
        "ClusterQueue",
        "LocalQueue",
        "WorkloadPriorityClass",
        "Cohort",
        "Workload",
        "AdmissionCheck",
        "Topology",
    }
    assert (
        set(by_kind)
        == {"PyTorchJob", "RayCluster", "RayJob", "NodePool", "EC2NodeClass"} | kueue | trainer
    )
    # Tags, never branches: a branch moves and its checksum would stop matching.
    assert f"/{versions.TRAINING_OPERATOR_VERSION}/" in by_kind["PyTorchJob"].url
    assert f"/v{versions.KUBERAY_VERSION}/" in by_kind["RayJob"].url
    assert f"/v{versions.KARPENTER_VERSION}/" in by_kind["NodePool"].url
    assert all(f"/kueue/v{versions.KUEUE_VERSION}/" in by_kind[k].url for k in kueue)
    for kind in ("TrainJob", "TrainingRuntime"):
        assert f"/v{versions.KUBEFLOW_TRAINER_VERSION}/charts/" in by_kind[kind].url
    assert all(len(c.sha256) == 64 for c in crds.PINNED)


def test_the_mirror_in_use_holds_exactly_the_pinned_files(pinned_crds):
    # With the CRDs available (a mirror or the cache), each file hashes to its pin; a group
    # CI's mirror predates has none of its files (tests/crd_mirror.py).
    for crd in crds.PINNED:
        if crd.group in lagging_groups():
            assert not (Path(pinned_crds.directory) / crd.file).exists()
            continue
        assert crds.sha256_of(Path(pinned_crds.directory) / crd.file) == crd.sha256


def test_plan_names_the_unchecked_kinds_even_beside_schema_errors(monkeypatch, tmp_path):
    import dataclasses

    from trainstack.offline import plan, plan_report

    monkeypatch.delenv("TRAINSTACK_CRD_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty"))
    monkeypatch.setattr(crds, "_download", lambda url: (_ for _ in ()).throw(OSError("offline")))
    result = plan.run(Path(__file__).resolve().parents[2], "dev", fetch_crds=False)
    kinds = {m["kind"] for m in result.unchecked}
    assert {"PyTorchJob", "NodePool", "EC2NodeClass"} <= kinds and result.schema_errors == {}
    clean = plan_report.summary(result)
    assert "not checked against their upstream CRDs" in clean and "make crds" in clean
    broken = plan_report.summary(
        dataclasses.replace(result, schema_errors={"Namespace/training": ["metadata.name: bad"]})
    )
    line = next(x for x in broken.splitlines() if x.startswith("Kubernetes objects:"))
    assert "1 INVALID" in line and "not checked against their upstream CRDs" in line
