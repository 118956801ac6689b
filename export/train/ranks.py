"""One process per GPU under torchrun, or a single process: the same training loop for both.

`Ranks.from_env()` reads torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK); without it
everything degrades to a single process, so tests and `vlmprune train` on one device need
no launcher.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> Ranks:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world == 1:
            return cls()
        ranks = cls(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
        if torch.cuda.is_available():
            torch.cuda.set_device(ranks.local_rank)
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        return ranks

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self) -> torch.device:
        if torch.cuda.is_available():
            return torch.device("cuda", self.local_rank)
        return torch.device("cpu")

    def main_only(self, log: Callable[[str], None]) -> Callable[[str], None]:
        return log if self.is_main else (lambda _message: None)

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        if self.world == 1:
            return model
        from torch.nn.parallel import DistributedDataParallel

        # The vision tower's post-layernorm is not used by LLaVA (it reads the last hidden
        # state before it), so its parameters never get gradients.
        ids = [self.local_rank] if torch.cuda.is_available() else None
        return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)

    def any(self, flag: bool) -> bool:
        """True on every process when `flag` is true on at least one."""
        if self.world == 1:
            return flag
        value = torch.tensor([1.0 if flag else 0.0], device=self.device())
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def close(self) -> None:
        if self.world > 1:
            dist.barrier()
            dist.destroy_process_group()
