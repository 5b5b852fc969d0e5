"""The trainer under Ray Train: each Ray Train worker is one trainer rank.

    python -m trainer.ray_train --num-workers W [--gpus-per-worker G] [--cpus-per-worker C] \\
        --max-failures R --storage-path PATH [--name NAME] -- <trainer arguments>

Everything after `--` is the command line of `python -m trainer`, checked here before Ray starts.
On GPU nodes W is nodes x GPUs per node and G is 1: the trainer drives one device per rank.

Ray Train's TorchTrainer makes the process group (NCCL with GPUs, gloo without) and sets each
worker's GPU before it calls the trainer's own `main`, which uses that group as it finds it
(trainer/distributed.py). Recovery is the trainer's: when a worker dies, Ray restarts the whole
group (up to --max-failures times) and every rank resumes from the newest complete checkpoint in
--checkpoint.dir, which on several nodes must be a volume they all mount. Ray's own storage
(--storage-path/--name) holds only its run records: the trainer's checkpoints are not copied there.

Inside a RayJob (RAY_ADDRESS set) or next to a running `ray start`, this connects to that cluster;
otherwise it starts a local one. Exit codes are the trainer's: 0 done, 2 bad config, 3 non-finite
loss (neither is retried: a restart would not help); 1 when the workers failed more than R times.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from typing import Any

from . import config, efa, exit_codes, train

PROG = "python -m trainer.ray_train"
# Every rank ends with the same one of these, so the run stops instead of being restarted: the
# permanent codes of exit_codes.py, as a PyTorchJob's ExitCode policy treats them.
FINAL_CODES = (exit_codes.EXIT_OK, *exit_codes.PERMANENT)


@dataclass(frozen=True)
class Launch:
    num_workers: int
    gpus_per_worker: int
    cpus_per_worker: float
    max_failures: int
    storage_path: str
    name: str
    trainer_args: list[str]
    expect_efa: bool = False

    def resources_per_worker(self) -> dict[str, float]:
        res = {"CPU": self.cpus_per_worker}
        if self.gpus_per_worker:
            res["GPU"] = self.gpus_per_worker
        return res


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        allow_abbrev=False,
        usage=f"{PROG} --num-workers W [--gpus-per-worker G] [--cpus-per-worker C] "
        "--max-failures R --storage-path PATH [--name NAME] [--expect-efa] "
        "-- TRAINER_ARGS...",
        description="Run the trainer (python -m trainer) on Ray Train, one worker per rank. "
        "The arguments after `--` are the trainer's.",
    )
    p.add_argument(
        "--num-workers",
        type=int,
        required=True,
        metavar="W",
        help="trainer ranks: nodes x GPUs per node on GPU nodes",
    )
    p.add_argument(
        "--gpus-per-worker",
        type=int,
        default=0,
        metavar="G",
        help="0 (CPU, gloo) or 1 (one GPU per rank, NCCL); default 0",
    )
    p.add_argument(
        "--cpus-per-worker",
        type=float,
        default=1.0,
        metavar="C",
        help="CPUs Ray reserves per worker; default 1",
    )
    p.add_argument(
        "--max-failures",
        type=int,
        required=True,
        metavar="R",
        help="restarts of the worker group after a worker failure (-1: no limit)",
    )
    p.add_argument(
        "--storage-path",
        required=True,
        metavar="PATH",
        help="Ray Train's run records: a directory every node mounts, or a URI",
    )
    p.add_argument("--name", default="trainstack", help="run name under PATH; default trainstack")
    p.add_argument(
        "--expect-efa",
        action="store_true",
        help="each worker first checks that NCCL would run over EFA (the selftest's "
        "--expect-efa) and fails with the reason instead of training over TCP",
    )
    return p


def parse_args(argv: list[str]) -> Launch:
    """Split at the first `--`: the launcher's options before it, the trainer's after it."""
    cut = argv.index("--") if "--" in argv else len(argv)
    p = parser()
    ns = p.parse_args(argv[:cut])
    if ns.num_workers < 1:
        p.error(f"--num-workers {ns.num_workers}: at least 1")
    if ns.gpus_per_worker not in (0, 1):
        p.error(
            f"--gpus-per-worker {ns.gpus_per_worker}: 0 or 1; the trainer drives one device "
            f"per rank, so give each GPU its own worker (--num-workers = nodes x GPUs per "
            f"node, --gpus-per-worker 1)"
        )
    if ns.cpus_per_worker <= 0:
        p.error(f"--cpus-per-worker {ns.cpus_per_worker:g}: must be above 0")
    if ns.max_failures < -1:
        p.error(f"--max-failures {ns.max_failures}: -1 (no limit) or more")
    storage = ns.storage_path if "://" in ns.storage_path else os.path.abspath(ns.storage_path)
    return Launch(
        ns.num_workers,
        ns.gpus_per_worker,
        ns.cpus_per_worker,
        ns.max_failures,
        storage,
        ns.name,
        argv[cut + 1 :],
        expect_efa=ns.expect_efa,
    )


def check_trainer_args(launch: Launch) -> config.TrainConfig:
    """The trainer's options and what depends on the number of ranks, before any worker starts
    (argparse exits 2 itself on an unknown option)."""
    cfg = config.from_args(launch.trainer_args)
    cfg.check_world(launch.num_workers)
    return cfg


def worker(loop_config: dict[str, Any]) -> dict[str, Any]:
    """One rank: the trainer's main on the forwarded arguments, in Ray's process group.
    Returns the exit code, and on rank 0 the run's summary (Ray's Result.return_value)."""
    import ray.train

    if loop_config.get("expect_efa"):
        # KubeRay starts the worker pods itself, so the check a PyTorchJob runs before torchrun
        # runs here, on each worker's node, before any collective. Raising lets Ray Train
        # restart the group (a new placement may land on nodes whose EFA works).
        problems = efa.efa_problems(efa.probe())
        if problems:
            raise RuntimeError("EFA cannot carry NCCL on this node: " + "; ".join(problems))
    argv = loop_config["trainer_args"]
    code = train.main(argv)
    if code not in FINAL_CODES:
        raise RuntimeError(
            f"trainer exited with {code}; Ray Train restarts the workers, which "
            "resume from the newest checkpoint"
        )
    out: dict[str, Any] = {"exit_code": code}
    if code == 0 and ray.train.get_context().get_world_rank() == 0:
        summary = os.path.join(config.from_args(argv).metrics.out_dir, "summary.json")
        with open(summary) as f:
            out.update(json.load(f))
    return out


def fit(launch: Launch, cfg: config.TrainConfig):
    """The Ray Train run: its Result (return_value: rank 0's exit code and summary), or
    ray.train.TrainingFailedError once the workers have failed more than max_failures times."""
    import ray
    import ray.train
    from ray.train.torch import TorchConfig, TorchTrainer

    # Ray Train's print patch would log each of the trainer's lines twice; the driver passes
    # RAY_TRAIN_* variables on to the workers.
    os.environ.setdefault("RAY_TRAIN_ENABLE_PRINT_PATCH", "0")
    if not ray.is_initialized():
        ray.init()  # RAY_ADDRESS or a local `ray start` cluster if there is one, else a new one
    trainer = TorchTrainer(
        worker,
        train_loop_config={"trainer_args": launch.trainer_args, "expect_efa": launch.expect_efa},
        torch_config=TorchConfig(
            backend="nccl" if launch.gpus_per_worker else "gloo", timeout_s=cfg.parallel.timeout_s
        ),
        scaling_config=ray.train.ScalingConfig(
            num_workers=launch.num_workers,
            use_gpu=launch.gpus_per_worker > 0,
            resources_per_worker=launch.resources_per_worker(),
        ),
        run_config=ray.train.RunConfig(
            storage_path=launch.storage_path,
            name=launch.name,
            failure_config=ray.train.FailureConfig(max_failures=launch.max_failures),
        ),
    )
    return trainer.fit()


def main(argv: list[str] | None = None) -> int:
    launch = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        cfg = check_trainer_args(launch)
    except config.ConfigError as e:
        print(f"trainer.ray_train: {e}", file=sys.stderr, flush=True)
        return exit_codes.EXIT_CONFIG
    import ray.train

    try:
        result = fit(launch, cfg)
    except ray.train.TrainingFailedError as e:
        print(
            f"trainer.ray_train: the workers failed more than --max-failures "
            f"{launch.max_failures} time(s): {e}",
            file=sys.stderr,
            flush=True,
        )
        return 1
    code = (result.return_value or {}).get("exit_code", 1)
    print(
        f"trainer.ray_train: exit {code} on {launch.num_workers} worker(s); Ray run {result.path}",
        flush=True,
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
