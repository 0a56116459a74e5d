"""perllm-opt: PerLLM edge-cloud LLM inference scheduling with an exact optimum.

Implements the model of Yang et al., "PerLLM: Personalized Inference Scheduling with
Edge-Cloud Collaboration for Diverse LLM Services", arXiv:2405.14636 (2024), as documented in
``docs/model.md``: a NetworkX edge-cloud topology, one option table of delays and energies,
an online simulator for schedulers (CS-UCB and baselines), and a Pyomo/HiGHS MILP giving
the offline optimum of the same realised instance.

The names of the Python API (``docs/api.md``) are importable from here: ``load_config``,
``build_instance``, ``make_scheduler``, ``simulate``, ``run_schedulers``,
``evaluate_assignment``, ``solve_optimum``, ``regret_of``, ``Regret``, ``Scheduler`` and
``InputError``. Each loads its module on first use, so ``import perllm_opt`` stays fast.
"""

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Public name -> (module, attribute). ``evaluate_assignment`` is
#: ``perllm_opt.evaluation.metrics.evaluate`` under a name that says what it scores.
_EXPORTS: dict[str, tuple[str, str]] = {
    "load_config": ("perllm_opt.cli.config_store", "load_config"),
    "build_instance": ("perllm_opt.instance.build", "build_instance"),
    "make_scheduler": ("perllm_opt.schedulers.factory", "make_scheduler"),
    "simulate": ("perllm_opt.simulation.simulator", "simulate"),
    "run_schedulers": ("perllm_opt.runner", "run_schedulers"),
    "evaluate_assignment": ("perllm_opt.evaluation.metrics", "evaluate"),
    "solve_optimum": ("perllm_opt.milp.optimum", "solve_optimum"),
    "regret_of": ("perllm_opt.evaluation.regret", "regret_of"),
    "Regret": ("perllm_opt.evaluation.regret", "Regret"),
    "Scheduler": ("perllm_opt.schedulers.base", "Scheduler"),
    "InputError": ("perllm_opt.errors", "InputError"),
}

__all__ = [
    "InputError",
    "Regret",
    "Scheduler",
    "__version__",
    "build_instance",
    "evaluate_assignment",
    "load_config",
    "make_scheduler",
    "regret_of",
    "run_schedulers",
    "simulate",
    "solve_optimum",
]

if TYPE_CHECKING:
    from perllm_opt.cli.config_store import load_config
    from perllm_opt.errors import InputError
    from perllm_opt.evaluation.metrics import evaluate as evaluate_assignment
    from perllm_opt.evaluation.regret import Regret, regret_of
    from perllm_opt.instance.build import build_instance
    from perllm_opt.milp.optimum import solve_optimum
    from perllm_opt.runner import run_schedulers
    from perllm_opt.schedulers.base import Scheduler
    from perllm_opt.schedulers.factory import make_scheduler
    from perllm_opt.simulation.simulator import simulate


def __getattr__(name: str) -> Any:
    """Load a name of the API from its module on first access (PEP 562)."""
    try:
        module, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'perllm_opt' has no attribute {name!r}") from None
    return getattr(importlib.import_module(module), attr)


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
