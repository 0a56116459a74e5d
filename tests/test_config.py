"""Typed configuration (perllm_opt/config.py): every bad value raises InputError naming its
key."""

from __future__ import annotations

import math

import pytest

from perllm_opt.config import (
    AppConfig,
    DeploymentConfig,
    DynamicsConfig,
    InstanceConfig,
    ServiceTypeConfig,
    SolverConfig,
    SystemConfig,
    TopologyConfig,
    WorkloadConfig,
    default_services,
)
from perllm_opt.errors import InputError


@pytest.mark.parametrize(
    ("make", "key"),
    [
        (lambda: InstanceConfig(horizon_s=0), "horizon_s"),
        (lambda: InstanceConfig(horizon_s=-5), "horizon_s"),
        (lambda: InstanceConfig(horizon_s=math.inf), "horizon_s"),
        (lambda: InstanceConfig(horizon_s=math.nan), "horizon_s"),
        (lambda: InstanceConfig(seed=-1), "seed"),
        (lambda: InstanceConfig(seed=1.5), "seed"),
        (lambda: InstanceConfig(services=[]), "services"),
        (lambda: InstanceConfig(services=[ServiceTypeConfig(), ServiceTypeConfig()]), "services"),
        (lambda: InstanceConfig(services=[ServiceTypeConfig(mix=0.0)]), r"services\[\*\]\.mix"),
        (lambda: TopologyConfig(wan_bandwidth_mbps=-10.0), r"topology\.wan_bandwidth_mbps"),
        (lambda: TopologyConfig(wan_bandwidth_mbps=0.0), r"topology\.wan_bandwidth_mbps"),
        (lambda: TopologyConfig(preset=None, path=None), "topology"),
        (lambda: TopologyConfig(preset="paper", path="g.json"), "topology"),
        (lambda: WorkloadConfig(rate_rps=-1.0), r"workload\.rate_rps"),
        (lambda: WorkloadConfig(rate_rps=0.0), r"workload\.rate_rps"),
        (lambda: WorkloadConfig(rate_rps=True), r"workload\.rate_rps"),
        (lambda: WorkloadConfig(kind="weibull"), r"workload\.kind"),
        (lambda: WorkloadConfig(burst_ratio=0.5), r"workload\.burst_ratio"),
        (lambda: WorkloadConfig(burst_fraction=1.0), r"workload\.burst_fraction"),
        (lambda: WorkloadConfig(burst_fraction=0.0), r"workload\.burst_fraction"),
        (lambda: WorkloadConfig(burst_mean_s=0.0), r"workload\.burst_mean_s"),
        (lambda: WorkloadConfig(zone_weights=[]), r"workload\.zone_weights"),
        (lambda: WorkloadConfig(zone_weights=[0.0, 0.0]), r"workload\.zone_weights"),
        (lambda: WorkloadConfig(zone_weights=[1.0, -1.0]), r"workload\.zone_weights"),
        (lambda: WorkloadConfig(trace_start_s=-1.0), r"workload\.trace_start_s"),
        (lambda: WorkloadConfig(kind="trace"), r"workload\.trace_path"),
        (lambda: ServiceTypeConfig(deadline_min_s=0.0), r"services\[assistant\]\.deadline_min_s"),
        (lambda: ServiceTypeConfig(deadline_min_s=-3.0), r"services\[assistant\]\.deadline_min_s"),
        (
            lambda: ServiceTypeConfig(deadline_min_s=20.0, deadline_max_s=10.0),
            r"services\[assistant\]\.deadline_max_s",
        ),
        (lambda: ServiceTypeConfig(name="q", mix=-1.0), r"services\[q\]\.mix"),
        (lambda: ServiceTypeConfig(prompt_min_tokens=0), r"prompt_min_tokens"),
        (
            lambda: ServiceTypeConfig(prompt_min_tokens=50, prompt_max_tokens=10),
            r"prompt_min_tokens",
        ),
        (
            lambda: ServiceTypeConfig(output_min_tokens=300, output_max_tokens=256),
            r"output_min_tokens",
        ),
        (lambda: ServiceTypeConfig(prompt_median_tokens=0.0), r"prompt_median_tokens"),
        (lambda: ServiceTypeConfig(output_sigma=-0.1), r"output_sigma"),
        (lambda: ServiceTypeConfig(attachment_median_bytes=10.0), r"attachment_max_bytes"),
        (lambda: ServiceTypeConfig(name=""), r"services\[\]\.name"),
        (lambda: SystemConfig(round_s=0.0), r"system\.round_s"),
        (lambda: SystemConfig(rate_levels_mbps=[]), r"system\.rate_levels_mbps"),
        (lambda: SystemConfig(rate_levels_mbps=[2.0, -1.0]), r"system\.rate_levels_mbps"),
        (lambda: SystemConfig(rate_levels_mbps=[2.0, 2.0]), r"system\.rate_levels_mbps"),
        (lambda: SystemConfig(bytes_per_token=0.0), r"system\.bytes_per_token"),
        (lambda: SystemConfig(w_tran=-1.0), r"system\.w_tran"),
        (lambda: SystemConfig(w_idle=math.inf), r"system\.w_idle"),
        (lambda: SystemConfig(drop_penalty_j=0.0), r"system\.drop_penalty_j"),
        (lambda: DynamicsConfig(bandwidth_links="some"), r"dynamics\.bandwidth_links"),
        (lambda: DynamicsConfig(bandwidth_min_fraction=0.0), r"dynamics\.bandwidth_min_fraction"),
        (lambda: DynamicsConfig(bandwidth_min_fraction=1.5), r"dynamics\.bandwidth_min_fraction"),
        (lambda: DynamicsConfig(bandwidth_step=-0.1), r"dynamics\.bandwidth_step"),
        (lambda: DynamicsConfig(slowdown_max=0.9), r"dynamics\.slowdown_max"),
        (lambda: DynamicsConfig(speed_sigma=-1.0), r"dynamics\.speed_sigma"),
        (lambda: SolverConfig(time_limit_s=0.0), r"solver\.time_limit_s"),
        (lambda: SolverConfig(mip_rel_gap=1.0), r"solver\.mip_rel_gap"),
        (lambda: SolverConfig(threads=0), r"solver\.threads"),
        (lambda: SolverConfig(objective="fast"), r"solver\.objective"),
        (lambda: SolverConfig(name=""), r"solver\.name"),
        (lambda: AppConfig(placement="random"), "placement"),
        (lambda: AppConfig(schedulers=["nope"], scheduler={"a": {}}), "schedulers"),
        (lambda: AppConfig(schedulers=["a", "a"], scheduler={"a": {}}), "schedulers"),
    ],
)
def test_bad_values_name_their_key(make, key):
    with pytest.raises(InputError, match=key) as err:
        make()
    # The message has the form "<field>: got <value>, expected <what>".
    assert ": got " in str(err.value) and ", expected " in str(err.value)


def test_defaults_are_valid():
    cfg = InstanceConfig()
    assert cfg.horizon_s == 600.0 and cfg.seed == 0
    assert cfg.topology.preset == "paper"
    assert [s.name for s in cfg.services] == ["assistant", "chat", "doc"]
    assert sum(s.mix for s in default_services()) == pytest.approx(1.0)
    assert DeploymentConfig().cloud == ["llama2-7b", "llama2-13b", "llama-33b"]
    AppConfig(schedulers=["a"], scheduler={"a": {"_target_": "x"}})


def test_input_error_fields():
    err = InputError("workload.rate_rps", -1, "a finite number > 0")
    assert (err.field, err.value, err.expected) == ("workload.rate_rps", -1, "a finite number > 0")
    assert str(err) == "workload.rate_rps: got -1, expected a finite number > 0"
    assert isinstance(err, ValueError)


def test_services_conf_matches_default_services():
    """conf/services/default.yaml holds the same values as default_services()."""
    import yaml
    from support import CONF

    text = (CONF / "services" / "default.yaml").read_text("utf-8")
    conf = yaml.safe_load(text)["services"]
    for raw, svc in zip(conf, default_services(), strict=True):
        for k, v in raw.items():
            ours = getattr(svc, k)
            if isinstance(ours, float):
                # PyYAML reads 1.0e6 as a string; OmegaConf as a float.
                assert ours == pytest.approx(float(v)), k
            else:
                assert ours == v, k
