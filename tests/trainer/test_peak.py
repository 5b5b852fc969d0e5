"""MFU's denominator: a GPU's datasheet, else one stable measurement per machine, on rank 0,
cached and shared by every rank (trainer/metrics.py)."""

from __future__ import annotations

import json

import pytest
import torch

from trainer import logline, metrics

CPU = torch.device("cpu")


def never(*a, **k):
    raise AssertionError("measured, though the figure was known")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: False)
    return tmp_path / "trainstack"


def test_measured_once_then_read_from_the_cache(cache, monkeypatch):
    runs = []
    monkeypatch.setattr(metrics, "stable_peak_tflops", lambda d, dtype: runs.append(d) or 1.25)
    assert metrics.peak_tflops(CPU, None, bf16=False)[0] == 1.25
    (path,) = cache.glob("peak-*.json")
    assert path == metrics.peak_cache_file(CPU)
    assert json.loads(path.read_text())["threads"] == torch.get_num_threads()
    assert json.loads(path.read_text())["dtype"] == "torch.float32"
    # A second run on this machine: one short sample, no higher than the figure, and no
    # measurement.
    probes = []
    monkeypatch.setattr(metrics, "stable_peak_tflops", never)
    monkeypatch.setattr(metrics, "measured_matmul_tflops", lambda *a: probes.append(a) or 1.3)
    peak, source = metrics.peak_tflops(CPU, None, bf16=False)
    assert (peak, runs) == (1.25, [CPU]) and f"cached {path}" in source
    assert probes == [(CPU, 0.3, 1024, torch.float32)]


def test_a_figure_measured_under_load_is_measured_again_and_only_raised(cache, monkeypatch):
    path = metrics.peak_cache_file(CPU)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"tflops": 0.0141}))  # taken while the machine was busy
    monkeypatch.setattr(metrics, "measured_matmul_tflops", lambda *a: 0.09)  # idle now
    monkeypatch.setattr(metrics, "stable_peak_tflops", lambda d, dtype: 0.0896)
    peak, source = metrics.peak_tflops(CPU, None, bf16=False)
    assert peak == 0.0896 and "measured again" in source
    assert json.loads(path.read_text())["tflops"] == 0.0896
    # Busy again at the next check: a low sample never lowers the figure.
    monkeypatch.setattr(metrics, "measured_matmul_tflops", lambda *a: 0.02)
    monkeypatch.setattr(metrics, "stable_peak_tflops", never)
    assert metrics.peak_tflops(CPU, None, bf16=False)[0] == 0.0896
    # A re-measurement that comes out lower than the cached figure keeps the cached one.
    monkeypatch.setattr(metrics, "measured_matmul_tflops", lambda *a: 0.2)
    monkeypatch.setattr(metrics, "stable_peak_tflops", lambda d, dtype: 0.05)
    assert metrics.peak_tflops(CPU, None, bf16=False)[0] == 0.0896


def test_another_thread_count_is_another_machine(cache, monkeypatch):
    threads = torch.get_num_threads()
    one = metrics.peak_cache_file(CPU)
    try:
        torch.set_num_threads(threads + 1)
        assert metrics.peak_cache_file(CPU) != one
    finally:
        torch.set_num_threads(threads)


def test_the_figure_is_the_best_of_several_long_samples(monkeypatch):
    samples = iter([1.0, 2.6, 2.0, 0.1, 2.5])  # load only ever lowers a sample
    seen = []

    def sample(device, seconds, n, dtype):
        seen.append((seconds, n))
        return next(samples)

    monkeypatch.setattr(metrics, "measured_matmul_tflops", sample)
    assert metrics.stable_peak_tflops(CPU) == 2.6
    assert seen == [(1.0, 1024)] * 5


@pytest.mark.parametrize("rank", [0, 1])
def test_every_rank_takes_rank_0s_figure(cache, monkeypatch, rank):
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.distributed, "get_rank", lambda: rank)
    monkeypatch.setattr(metrics, "stable_peak_tflops", lambda d, dtype: 3.0)
    if rank:  # only rank 0 measures or reads the cache
        monkeypatch.setattr(metrics, "cached_peak_tflops", never)
    sent = []

    def broadcast(objects, src):
        assert src == 0
        sent.append(objects[0])
        objects[0] = (3.0, "rank 0's")

    monkeypatch.setattr(torch.distributed, "broadcast_object_list", broadcast)
    assert metrics.peak_tflops(CPU, None, bf16=False) == (3.0, "rank 0's")
    assert (sent[0] is None) == bool(rank)


def test_a_bf16_run_is_measured_in_bf16_and_cached_apart(cache, monkeypatch):
    """CPU runs can compute in bf16 (parallel.mixed_precision=bf16); their MFU is against the
    bf16 matmul rate, cached apart from the fp32 one."""
    seen = []
    monkeypatch.setattr(metrics, "stable_peak_tflops", lambda d, dtype: seen.append(dtype) or 0.5)
    peak, source = metrics.peak_tflops(CPU, None, bf16=True)
    assert (peak, seen) == (0.5, [torch.bfloat16]) and source.startswith("measured bfloat16")
    assert metrics.peak_cache_file(CPU, torch.bfloat16) != metrics.peak_cache_file(CPU)
    assert metrics.peak_cache_file(CPU, torch.bfloat16).exists()


def test_the_matmul_sample_runs_in_the_asked_dtype():
    assert metrics.measured_matmul_tflops(CPU, 0.01, 64, torch.bfloat16) > 0


def _progress_line(tmp_path, source: str) -> str:
    rec = metrics.Recorder(str(tmp_path), 10, 6e6, 1.0, 1, False, peak_source=source)
    rec.step(1, 2.0, 1e-3, 1.0, step_time=0.5, data_time=0.0, tokens=1024)
    return rec.log(1, 2.0, CPU)


def test_the_progress_line_names_a_measured_peak(tmp_path):
    line = _progress_line(tmp_path, "measured float32 matmul, cached /c/peak-1.json")
    assert "| MFU " in line and "| measured peak |" in line
    assert logline.parse(line).mfu_peak == "measured"


@pytest.mark.parametrize("source", ["H100 bf16 datasheet", "metrics.peak_tflops"])
def test_a_known_peak_is_not_called_measured(tmp_path, source):
    line = _progress_line(tmp_path, source)
    assert "measured" not in line and logline.parse(line).mfu_peak is None
