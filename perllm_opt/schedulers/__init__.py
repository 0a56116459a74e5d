"""Online schedulers: the interface, shared estimates, and CS-UCB (PerLLM's scheduler).

Rival schedulers live in the top-level ``baselines`` package.
"""

from perllm_opt.schedulers.base import Scheduler, SchedulerError

__all__ = ["Scheduler", "SchedulerError"]
