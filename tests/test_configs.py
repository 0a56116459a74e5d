"""Every config file composes and instantiates; typed schemas reject misspelt keys and wrong
types when the config loads, naming the key."""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import pytest
from hydra.errors import ConfigCompositionException

from perllm_opt.cli.config_store import compose_config, config_dir, to_app_config
from perllm_opt.errors import InputError
from perllm_opt.instance.build import build_instance
from perllm_opt.schedulers.base import Scheduler
from perllm_opt.schedulers.factory import make_scheduler
from perllm_opt.system.presets import paper_graph

CONF = Path(config_dir())
GROUPS = [
    "topology",
    "deployment",
    "services",
    "workload",
    "dynamics",
    "system",
    "calibration",
    "solver",
    "scheduler",
    "experiment",
    "slot",
]
OPTIONS = [(g, p.stem) for g in GROUPS for p in sorted((CONF / g).glob("*.yaml"))]


@pytest.fixture(scope="module")
def graph_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("graph") / "paper.json"
    path.write_text(json.dumps(nx.node_link_data(paper_graph(), edges="links")))
    return path


def test_every_group_has_options():
    groups = {g for g, _ in OPTIONS}
    assert groups == set(GROUPS)
    assert len([o for g, o in OPTIONS if g == "deployment"]) >= 3


@pytest.mark.parametrize("group,option", OPTIONS, ids=[f"{g}/{o}" for g, o in OPTIONS])
def test_config_composes_and_instantiates(group, option, graph_file):
    if group == "scheduler":
        overrides = [f"schedulers=[{option}]"]
    elif group in ("experiment", "slot"):
        overrides = [f"+{group}={option}"]
    else:
        overrides = [f"{group}={option}"]
    if (group, option) == ("topology", "file"):
        overrides.append(f"topology.path={graph_file}")
    app = to_app_config(compose_config([*overrides, "horizon_s=60"]))
    for name in app.schedulers:
        assert isinstance(make_scheduler(name, app.scheduler[name]), Scheduler)
    inst = build_instance(app)
    decision_s = app.system.epoch_s if app.system.mode == "continuous" else app.system.round_s
    assert inst.n_rounds == round(60 / decision_s) and len(inst.options) > 0


@pytest.mark.parametrize(
    "override,key",
    [
        ("workload.rat_rps=1", "rat_rps"),
        ("horizn_s=60", "horizn_s"),
        ("scheduler.cs_ucb.thta=2", "thta"),
        ("solver.time_limit=5", "time_limit"),
    ],
)
def test_misspelt_key_fails_naming_it(override, key):
    with pytest.raises(ConfigCompositionException) as err:
        compose_config([override])
    assert key in str(err.value) + str(err.value.__cause__)


@pytest.mark.parametrize(
    "override,key",
    [
        ("horizon_s=abc", "horizon_s"),
        ("workload.rate_rps=fast", "rate_rps"),
        ("scheduler.cs_ucb.theta=abc", "theta"),
        ("optimal=maybe", "optimal"),
    ],
)
def test_wrong_type_fails_naming_the_key(override, key):
    with pytest.raises(ConfigCompositionException) as err:
        compose_config([override])
    assert key in str(err.value) + str(err.value.__cause__)


@pytest.mark.parametrize(
    "override,key",
    [
        ("topology.wan_bandwidth_mbps=-5", "topology.wan_bandwidth_mbps"),
        ("horizon_s=0", "horizon_s"),
        ("services.0.deadline_min_s=0", "deadline_min_s"),
        ("workload.rate_rps=-1", "workload.rate_rps"),
        ("system.round_s=0", "system.round_s"),
        ("scheduler.cs_ucb.confidence=1.5", "scheduler.cs_ucb.confidence"),
        ("schedulers=[cs_ucb,nope]", "schedulers"),
    ],
)
def test_values_checked_for_sense(override, key):
    with pytest.raises(InputError) as err:
        app = to_app_config(compose_config([override]))
        for name in app.schedulers:
            make_scheduler(name, app.scheduler[name])
    assert key in str(err.value)


ABLATIONS = {
    "cs_ucb_static": {"exploration", "learn"},
    "cs_ucb_greedy": {"plan_mode"},
    "cs_ucb_milp": {"plan_mode"},
    "cs_ucb_no_price": {"plan_mode", "price_weight"},
}


@pytest.mark.parametrize("name", sorted(p.stem for p in (CONF / "scheduler").glob("*.yaml")))
def test_scheduler_yaml_matches_class_defaults(name):
    """Constructing a scheduler in code gives the same hyperparameters as its config."""
    import dataclasses

    from perllm_opt.schedulers.factory import load_scheduler_spec, scheduler_class

    spec = load_scheduler_spec(CONF / "scheduler" / f"{name}.yaml")
    cls = scheduler_class(spec.pop("_target_"), name)
    defaults = {f.name: f.default for f in dataclasses.fields(cls) if f.name != "name"}
    # Ablations are configs of another scheduler's class that change some of its keys
    # (tests/test_cs_ucb.py checks they keep the rest).
    ablated = ABLATIONS.get(name, set())
    assert {k: v for k, v in spec.items() if k not in ablated} == {
        k: defaults[k] for k in spec if k not in ablated
    }
    assert cls().name == name or name in ABLATIONS
