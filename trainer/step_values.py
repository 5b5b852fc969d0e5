"""A step's numbers stay on the device until the host synchronises anyway.

Reading the loss or the gradient norm on the host (`.item()`) makes a GPU's host wait for the
whole queue to drain, every step. Instead each step leaves this rank's loss sum and the global
gradient norm as device tensors, and they are reduced and read at the next sync point (a progress
line, validation, a checkpoint, the end): one all-reduce and one copy to the host for all the
steps since the last one.

The non-finite guard is decided on the device as well: a sticky flag, set by the first non-finite
gradient norm, is the fused AdamW step's `found_inf`, the tensor torch.amp.GradScaler hands to
optimizers with `_step_supports_amp_scaling` (torch 2.13 torch/amp/grad_scaler.py `step`; the
kernels skip the update and torch/optim/adam.py `_fused_adam` takes the step count back). So the
first bad step and every step after it change neither the weights nor the optimizer's moments,
and the host, when it next reads the values, stops the run naming the first bad step.
"""

from __future__ import annotations

import math

import torch


class NonFiniteError(RuntimeError):
    """`good`: (step, loss, gradient norm) of the steps before the first non-finite one."""

    def __init__(self, message: str, good: list[tuple[int, float, float]]):
        super().__init__(message)
        self.good = good


class StepValues:
    def __init__(self, device: torch.device):
        self.device = device
        # 1.0 from the first non-finite gradient norm on: the optimizer skips every later step.
        self.found_inf = torch.zeros((), dtype=torch.float32, device=device)
        self._steps: list[int] = []
        self._loss_sums: list[torch.Tensor] = []
        self._norms: list[torch.Tensor] = []
        self._targets: list[torch.Tensor | None] = []  # fine-tuning data: the loss's token count
        self.flushed: list[tuple[int, float, float]] = []  # what the last flush read

    def add(
        self,
        step: int,
        loss_sum: torch.Tensor,
        grad_norm: torch.Tensor,
        targets: torch.Tensor | None = None,
    ) -> None:
        """This rank's loss sum of the step and the global gradient norm (the same on every
        rank, so the flag, and every rank's decision to skip, are the same too); `targets`, the
        step's number of unmasked targets over all ranks when not every token is one."""
        self._steps.append(step)
        self._targets.append(None if targets is None else targets.detach().double())
        self._loss_sums.append(loss_sum.detach().double())
        self._norms.append(grad_norm.detach().double())
        self.found_inf = torch.maximum(self.found_inf, (~torch.isfinite(grad_norm)).float())

    def flush(
        self, tokens_per_step: int, stop: bool
    ) -> tuple[list[tuple[int, float, float]], bool]:
        """The host sync: every pending step's (step, global mean loss, gradient norm), and
        whether any rank asked to stop. Raises NonFiniteError at the first non-finite step.
        Every rank must call it at the same steps (it is a collective)."""
        n = len(self._steps)
        flag = torch.tensor([float(stop)], dtype=torch.float64, device=self.device)
        summed = torch.cat([torch.stack(self._loss_sums), flag]) if n else flag
        torch.distributed.all_reduce(summed)
        norms = torch.stack(self._norms) if n else summed[:0]
        counted = [t for t in self._targets if t is not None]
        counts = torch.stack(counted) if counted else summed[:0]
        values = torch.cat([summed, norms, counts]).tolist()  # the one copy to the host
        divisors = iter(values[2 * n + 1 :])
        per_step = [tokens_per_step if t is None else next(divisors) for t in self._targets]
        records = [
            (s, values[i] / per_step[i], values[n + 1 + i]) for i, s in enumerate(self._steps)
        ]
        self._steps, self._loss_sums, self._norms, self._targets = [], [], [], []
        for i, (s, loss, norm) in enumerate(records):
            if not (math.isfinite(loss) and math.isfinite(norm)):
                raise NonFiniteError(
                    f"step {s}: loss {loss} and gradient norm {norm}; stopped before the "
                    f"optimizer step, so no weight was changed. Lower optim.lr, raise "
                    f"optim.warmup_steps or look at the data of this step; a restart resumes "
                    f"from the newest checkpoint.",
                    records[:i],
                )
        self.flushed = records
        return records, values[n] > 0
