"""`--model.init-from` hf:// and s3:// sources made local (trainer/init_sources.py): against a
local stand-in for the hub (fake_hub.py) and moto's S3, and the download-once protocol with
threads standing in for ranks."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import pytest
from fake_hub import FakeHub, Repo
from trainer_support import moto_s3

from trainer import download_once, init_sources, permanent_errors
from trainer.config_sections import ConfigError
from trainer.download_progress import DownloadProgress

GOOD, OTHER = "hf_good", "hf_not_on_the_list"
MAIN_SHA, V1_SHA = "a" * 40, "b" * 40
INDEX = {
    "metadata": {"total_size": 96},
    "weight_map": {
        "embed.weight": "model-00001-of-00002.safetensors",
        "norm.weight": "model-00002-of-00002.safetensors",
    },
}
MAIN_FILES = {
    "config.json": b'{"model_type": "llama", "hidden_size": 64}',
    "generation_config.json": b'{"bos_token_id": 1}',
    "tokenizer.json": b'{"model": {}}',
    "tokenizer_config.json": b"{}",
    "special_tokens_map.json": b"{}",
    "model.safetensors.index.json": json.dumps(INDEX).encode(),
    "model-00001-of-00002.safetensors": b"\x01" * 64,
    "model-00002-of-00002.safetensors": b"\x02" * 32,
}
# What a trainer does not load: never fetched.
EXTRA = {
    "README.md": b"# tiny",
    "consolidated.safetensors": b"\x03" * 96,
    "original/params.json": b"{}",
}
V1_FILES = {
    "config.json": b'{"model_type": "llama", "hidden_size": 32}',
    "model.safetensors": b"\x04" * 48,
}
NO_TOKEN = "no token: set the stack secret hfToken and hfToken: true on the job"


def noop() -> None:
    pass


@pytest.fixture(scope="module")
def hub():
    repos = {
        "org/gated": Repo(
            {MAIN_SHA: {**MAIN_FILES, **EXTRA}, V1_SHA: V1_FILES},
            {"main": MAIN_SHA, "v1": V1_SHA},
            gated=True,
            authorized={GOOD},
        ),
        "org/open": Repo({MAIN_SHA: {**MAIN_FILES}}, {"main": MAIN_SHA}),
        "org/weightless": Repo({MAIN_SHA: {"config.json": b"{}"}}, {"main": MAIN_SHA}),
    }
    with FakeHub(repos, {GOOD, OTHER}).serving() as h:
        yield h


def fetch_hf(hub: FakeHub, spec: str, root: Path, token: str | None = GOOD) -> Path:
    return init_sources.materialize(
        spec, root, token=token, rank=0, barrier=noop, timeout_s=1, endpoint=hub.url
    )


def test_gated_download_with_token_takes_the_model_files_once(hub, tmp_path, capsys):
    hub.requests.clear()
    got = fetch_hf(hub, "hf://org/gated", tmp_path)
    assert got == tmp_path / "hf" / "org" / "gated" / "main"
    files = {p.relative_to(got).as_posix() for p in got.rglob("*") if p.is_file()}
    assert files == {*MAIN_FILES, download_once.MARKER}  # no README, consolidated, original/
    assert all((got / f).read_bytes() == c for f, c in MAIN_FILES.items())
    marker = download_once.read_marker(got)
    assert marker["commit"] == MAIN_SHA and marker["source"] == "hf://org/gated"
    assert not download_once.temp_dir(got).exists()
    out = capsys.readouterr().out
    assert f"init-from: hf://org/gated: downloading {len(MAIN_FILES)} file(s)" in out
    assert "init-from: hf://org/gated: 8/8 model-00002-of-00002.safetensors (32 B)" in out
    assert hub.gets("model-00001-of-00002.safetensors") == 1

    # A restart (or the next run) finds it complete: not one request.
    hub.requests.clear()
    assert fetch_hf(hub, "hf://org/gated", tmp_path) == got
    assert hub.requests == []
    assert "downloaded before" in capsys.readouterr().out


@pytest.mark.parametrize(
    "token, message",
    [
        (None, f"model.init_from=hf://org/gated: org/gated is gated; {NO_TOKEN}"),
        ("", f"model.init_from=hf://org/gated: org/gated is gated; {NO_TOKEN}"),
        # a token the hub knows, not on the repo's list: 403 GatedRepo
        (
            OTHER,
            "model.init_from=hf://org/gated: token refused by the hub for org/gated (a gated "
            "repo: the token's account must be granted access)",
        ),
        # a token the hub does not know: 401 on the first request
        ("hf_revoked", "model.init_from=hf://org/gated: token refused by the hub for org/gated"),
    ],
)
def test_gated_without_or_with_a_refused_token_is_a_config_error(hub, tmp_path, token, message):
    with pytest.raises(ConfigError) as e:
        fetch_hf(hub, "hf://org/gated", tmp_path, token=token)
    assert e.value.issues == [message]
    assert not (tmp_path / "hf" / "org" / "gated" / "main").exists()


def test_only_the_token_passed_counts(hub, tmp_path, monkeypatch):
    """huggingface_hub would read HF_TOKEN (or a saved login) by itself for token=None; the job's
    token is what the caller passes."""
    monkeypatch.setenv("HF_TOKEN", GOOD)
    with pytest.raises(ConfigError, match=NO_TOKEN):
        fetch_hf(hub, "hf://org/gated", tmp_path, token=None)


def test_a_revision_pins_the_commit_and_lands_apart(hub, tmp_path):
    v1 = fetch_hf(hub, "hf://org/gated@v1", tmp_path)
    assert v1 == tmp_path / "hf" / "org" / "gated" / "v1"
    assert (v1 / "config.json").read_bytes() == V1_FILES["config.json"]
    assert (v1 / "model.safetensors").read_bytes() == V1_FILES["model.safetensors"]
    assert not (v1 / "model.safetensors.index.json").exists()
    assert download_once.read_marker(v1)["commit"] == V1_SHA
    by_sha = fetch_hf(hub, f"hf://org/gated@{MAIN_SHA}", tmp_path)
    assert (by_sha / "config.json").read_bytes() == MAIN_FILES["config.json"]


@pytest.mark.parametrize(
    "spec, token, why",
    [
        ("hf://org/missing", GOOD, "org/missing not found on the hub"),
        ("hf://org/missing", None, f"org/missing not found on the hub ({NO_TOKEN})"),
        ("hf://org/gated@nope", GOOD, "revision 'nope' not found in org/gated"),
        ("hf://org/weightless", None, "not a safetensors model at " + MAIN_SHA),
    ],
)
def test_missing_repo_revision_or_weights_is_a_config_error(hub, tmp_path, spec, token, why):
    with pytest.raises(ConfigError) as e:
        fetch_hf(hub, spec, tmp_path, token=token)
    assert why in e.value.issues[0]


def test_who_downloads_follows_whether_the_volume_is_shared(hub, tmp_path):
    spec, kw = "hf://org/open", dict(token=None, barrier=noop, endpoint=hub.url)
    # node-local disks: the second node's local rank 0 (global rank 1) fetches its own copy
    got = init_sources.materialize(
        spec, tmp_path / "n1", rank=1, local_rank=0, shared=False, timeout_s=1, **kw
    )
    assert download_once.is_complete(got)
    # a shared volume: only global rank 0 fetches; rank 1 finds nothing there and says why
    hub.requests.clear()
    with pytest.raises(ConfigError, match="must be one file system"):
        init_sources.materialize(
            spec, tmp_path / "n2", rank=1, local_rank=0, shared=True, timeout_s=0.1, **kw
        )
    assert hub.requests == []


def test_an_unreachable_hub_stays_retryable(tmp_path):
    with socket.socket() as s:  # a port nothing listens on: connection refused at once
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(Exception) as e:
        init_sources.materialize(
            "hf://org/open", tmp_path, token=None, rank=0, barrier=noop, timeout_s=1,
            endpoint=closed,
        )  # fmt: skip
    # neither a ConfigError nor what train.main turns into exit 2: the pod is retried
    assert not isinstance(e.value, ConfigError) and permanent_errors.explain(e.value) is None


def test_a_download_cut_short_continues_where_it_stopped(hub, tmp_path):
    """A 500 on the second shard fails the attempt retryably; the restart fetches only that."""
    repo = hub.repos["org/open"]
    repo.fail_gets[("model-00002-of-00002.safetensors", MAIN_SHA)] = 1
    hub.requests.clear()
    with pytest.raises(Exception) as e:
        fetch_hf(hub, "hf://org/open", tmp_path, token=None)
    # neither a ConfigError nor what train.main turns into exit 2: the pod is retried
    assert not isinstance(e.value, ConfigError) and permanent_errors.explain(e.value) is None
    final = tmp_path / "hf" / "org" / "open" / "main"
    assert not final.exists() and download_once.temp_dir(final).is_dir()
    hub.requests.clear()
    fetch_hf(hub, "hf://org/open", tmp_path, token=None)
    assert hub.gets("model-00002-of-00002.safetensors") == 1
    assert hub.gets("model-00001-of-00002.safetensors") == 0
    assert hub.gets("config.json") == 0
    assert download_once.is_complete(final)
    assert not (final / ".cache").exists()  # huggingface_hub's resume bookkeeping is gone


# ------------------------------------------------------------------------------------------ S3

BUCKET = "init-from-test"


def test_s3_prefix_copied_once(tmp_path):
    with moto_s3(BUCKET) as s3:
        objects = {
            "models/job/config.json": b"{}",
            "models/job/model.safetensors": b"\x05" * 40,
            "models/job/tokenizer.json": b"{}",
            "models/job2/config.json": b"{}",  # a sibling prefix, not under models/job/
        }
        for key, body in objects.items():
            s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        spec = f"s3://{BUCKET}/models/job/"
        args = dict(token=None, rank=0, barrier=noop, timeout_s=1)
        got = init_sources.materialize(spec, tmp_path, **args)
        assert got == tmp_path / "s3" / BUCKET / "models" / "job"
        assert download_once.read_marker(got)["files"] == {
            "config.json": 2,
            "model.safetensors": 40,
            "tokenizer.json": 2,
        }
        assert (got / "model.safetensors").read_bytes() == b"\x05" * 40

        # The second run reads nothing from the bucket: it works with the objects gone.
        for key in objects:
            s3.delete_object(Bucket=BUCKET, Key=key)
        assert init_sources.materialize(spec, tmp_path, **args) == got

        with pytest.raises(ConfigError, match="no config.json under it"):
            init_sources.materialize(f"s3://{BUCKET}/models/job2", tmp_path, **args)


# ----------------------------------------------------------------------------- the protocol


class Fetcher:
    """A fake source: writes two files, slowly; records who called it and when."""

    def __init__(self, delay: float = 0.2, fail_after_first: bool = False):
        self.calls: list[str] = []
        self.found: list[set[str]] = []  # what each call found already in its directory
        self.done_at = 0.0
        self.delay, self.fail_after_first = delay, fail_after_first
        self._lock = threading.Lock()

    def __call__(self, dest: Path, progress: DownloadProgress) -> dict:
        with self._lock:
            self.calls.append(threading.current_thread().name)
        self.found.append({p.name for p in dest.iterdir()})
        (dest / "config.json").write_text("{}")
        if self.fail_after_first:
            self.fail_after_first = False
            raise ConnectionError("network down")
        time.sleep(self.delay)
        (dest / "model.safetensors").write_bytes(b"\x06" * 8)
        self.done_at = time.monotonic()
        return {"commit": "c"}


def run_ranks(targets: dict[str, tuple]) -> dict[str, object]:
    """Each thread runs materialize_once(*args, **kwargs); returns each result or exception."""
    results: dict[str, object] = {}

    def run(name: str, args: tuple, kwargs: dict) -> None:
        try:
            results[name] = (download_once.materialize_once(*args, **kwargs), time.monotonic())
        except Exception as e:  # reported to the test
            results[name] = e

    threads = [threading.Thread(target=run, name=n, args=(n, *a)) for n, a in targets.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return results


def quiet(label: str, final: Path) -> DownloadProgress:
    return DownloadProgress(label, download_once.temp_dir(final), say=lambda _: None)


def test_rank_0_downloads_and_the_other_rank_waits_for_it(tmp_path):
    final, fetch = tmp_path / "model", Fetcher()
    barrier = threading.Barrier(2, timeout=5).wait
    common = dict(label="t", barrier=barrier, timeout_s=1)
    results = run_ranks(
        {
            "rank0": ((final, fetch), {**common, "downloads": True, "progress": quiet("t", final)}),
            "rank1": ((final, fetch), {**common, "downloads": False}),
        }
    )
    assert fetch.calls == ["rank0"]
    (path0, _), (path1, t1) = results["rank0"], results["rank1"]
    assert path0 == path1 == final and t1 >= fetch.done_at
    assert download_once.read_marker(final)["files"] == {"config.json": 2, "model.safetensors": 8}


def test_a_cut_short_download_resumes_in_its_temp_dir(tmp_path):
    final, fetch = tmp_path / "model", Fetcher(delay=0, fail_after_first=True)
    kw = dict(label="t", downloads=True, barrier=noop, timeout_s=1)
    with pytest.raises(ConnectionError):
        download_once.materialize_once(final, fetch, progress=quiet("t", final), **kw)
    assert not final.exists()
    download_once.materialize_once(final, fetch, progress=quiet("t", final), **kw)
    assert fetch.found == [set(), {"config.json"}]
    assert download_once.is_complete(final)


def test_two_downloaders_on_one_volume_fetch_once(tmp_path):
    """Every node's local rank 0 downloading onto a volume they share (or two jobs starting from
    the same model): the lock makes the second wait and use the first one's copy."""
    final, fetch = tmp_path / "model", Fetcher(delay=0.3)
    kw = dict(label="t", downloads=True, barrier=noop, timeout_s=1)
    results = run_ranks(
        {n: ((final, fetch), {**kw, "progress": quiet("t", final)}) for n in ("node0", "node1")}
    )
    assert len(fetch.calls) == 1
    assert results["node0"][0] == results["node1"][0] == final


def test_node_local_disks_each_download_and_a_wrongly_shared_one_fails(tmp_path):
    a, b = tmp_path / "node-a" / "model", tmp_path / "node-b" / "model"
    fetch = Fetcher(delay=0)
    barrier = threading.Barrier(3, timeout=5).wait
    kw = dict(label="t", barrier=barrier, timeout_s=0.3)
    results = run_ranks(
        {
            "a0": ((a, fetch), {**kw, "downloads": True, "progress": quiet("t", a)}),
            "b0": ((b, fetch), {**kw, "downloads": True, "progress": quiet("t", b)}),
            # local disks, but treated as shared: this rank skipped the download
            "b1": ((tmp_path / "node-c" / "model", fetch), {**kw, "downloads": False}),
        }
    )
    assert sorted(fetch.calls) == ["a0", "b0"]
    assert download_once.is_complete(a) and download_once.is_complete(b)
    assert isinstance(results["b1"], ConfigError)
    assert "must be one file system" in str(results["b1"])


def test_a_file_changed_after_the_download_makes_it_incomplete(tmp_path):
    final = tmp_path / "model"
    kw = dict(label="t", downloads=True, barrier=noop, timeout_s=1)
    download_once.materialize_once(final, Fetcher(delay=0), progress=quiet("t", final), **kw)
    (final / "model.safetensors").write_bytes(b"short")
    assert not download_once.is_complete(final)
    again = Fetcher(delay=0)
    download_once.materialize_once(final, again, progress=quiet("t", final), **kw)
    assert len(again.calls) == 1 and download_once.is_complete(final)


def test_heartbeat_reports_bytes_on_disk(tmp_path):
    lines: list[str] = []
    progress = DownloadProgress("s3://b/m", tmp_path, say=lines.append, every_s=0.02)
    progress.plan({"model.safetensors": 2_000_000})
    with progress:
        (tmp_path / "model.safetensors.part").write_bytes(b"\0" * 1_000_000)
        time.sleep(0.1)
    assert lines[0] == f"init-from: s3://b/m: downloading 1 file(s), 2.00 MB into {tmp_path}"
    assert any(line.startswith("init-from: s3://b/m: 1.00 MB of 2.00 MB (50%), ") for line in lines)


# --------------------------------------------------------------------------------- the specs


@pytest.mark.parametrize(
    "spec, subdir, repo, revision",
    [
        (
            "hf://meta-llama/Llama-3.2-1B",
            "hf/meta-llama/Llama-3.2-1B/main",
            "meta-llama/Llama-3.2-1B",
            "main",
        ),
        ("hf://org/m@refs/pr/1", "hf/org/m/refs%2Fpr%2F1", "org/m", "refs/pr/1"),
        ("s3://bucket/models/job/", "s3/bucket/models/job", "", ""),
    ],
)
def test_specs_land_in_their_own_directory(spec, subdir, repo, revision):
    src = init_sources.parse(spec)
    assert (src.subdir.as_posix(), src.repo_id, src.revision) == (subdir, repo, revision)
    assert init_sources.is_remote(spec)


@pytest.mark.parametrize(
    "spec",
    [
        "hf://llama",
        "hf://org/m@",
        "hf://../x",
        "hf://org/..",
        "s3://bucket",
        "s3://b/../x",
        "gs://b/m",
    ],
)
def test_malformed_specs_are_config_errors(spec):
    with pytest.raises(ConfigError):
        init_sources.parse(spec)
