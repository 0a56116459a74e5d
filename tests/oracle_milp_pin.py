"""The pinned decisions of ``oracle_milp`` (tests/test_oracle_milp.py): the option each
request gets in a continuous and a rounds-mode run, as ``perllm-opt`` would play them.

``python tests/oracle_milp_pin.py [OUT]`` prints them as JSON (its last line) or writes
them to ``OUT``; the committed file
``tests/data/oracle_milp_decisions.json`` was written by

    NPY_DISABLE_CPU_FEATURES="$(python -m perllm_opt.float_path)" \
        python tests/oracle_milp_pin.py tests/data/oracle_milp_decisions.json

at the commit before oracle_milp's epoch plan was made faster (issue 24), so the test checks
that the faster plan decides exactly as before.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from perllm_opt.cli.config_store import compose_config, to_app_config
from perllm_opt.instance.build import build_instance
from perllm_opt.rng import RngStreams
from perllm_opt.schedulers.factory import make_scheduler
from perllm_opt.simulation.simulator import simulate

#: name -> overrides of ``perllm-opt``: the default continuous setting (shortened) and the
#: former default rounds setting (shortened).
SETTINGS = {
    "continuous": ["horizon_s=60", "seed=1"],
    "rounds": ["system.mode=rounds", "horizon_s=150", "workload.rate_rps=2", "seed=2"],
}


def decisions(overrides: list[str]) -> dict[str, object]:
    """oracle_milp's options (-1: none) and statuses per request under ``overrides``."""
    cfg = to_app_config(compose_config(["optimal=false", "progress=false", *overrides]))
    inst = build_instance(cfg)
    sched = make_scheduler("oracle_milp", cfg.scheduler["oracle_milp"])
    res = simulate(inst, sched, RngStreams(cfg.seed).stream("scheduler/oracle_milp"))
    option = np.asarray(res.assignment.option, dtype=np.int64)
    status = np.asarray(res.assignment.status, dtype=np.int64)
    return {
        "overrides": overrides,
        "requests": int(inst.n_requests),
        "admitted": int((status == 0).sum()),
        "option": option.tolist(),
        "status": status.tolist(),
        "sha256": hashlib.sha256(option.tobytes() + status.tobytes()).hexdigest(),
    }


def main() -> None:
    text = json.dumps({name: decisions(o) for name, o in SETTINGS.items()})
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(text + "\n", encoding="utf-8")
    else:
        print(text)


if __name__ == "__main__":
    main()
