"""OR-Library GAP instances: the MILP layer must reproduce the published optima."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from perllm_opt.cli.gap import main as gap_main
from perllm_opt.config import SolverConfig
from perllm_opt.errors import InputError
from perllm_opt.milp.gap import gap_data, read_orlib_gap
from perllm_opt.milp.result import OPTIMAL
from perllm_opt.milp.solve import solve_assignment

DATA = Path(__file__).resolve().parent.parent / "benchmarks" / "data" / "orlib-gap"
OPTIMA = json.loads((DATA / "optima.json").read_text())
CFG = SolverConfig(mip_rel_gap=0.0, time_limit_s=600)
CASES = [
    (name, sense, k, value)
    for sense in ("max", "min")
    for name, values in OPTIMA[sense].items()
    for k, value in enumerate(values)
]


def test_reader_shapes():
    insts = read_orlib_gap(DATA / "gapa.txt")
    assert [(i.agents, i.jobs) for i in insts] == [
        (5, 100),
        (5, 200),
        (10, 100),
        (10, 200),
        (20, 100),
        (20, 200),
    ]
    first = read_orlib_gap(DATA / "gap1.txt")[0]
    assert first.cost[0, :3].tolist() == [17, 21, 22]
    assert first.capacity.tolist() == [36, 34, 38, 27, 33]


def test_one_published_optimum_fast():
    inst = read_orlib_gap(DATA / "gap1.txt")[0]
    res = solve_assignment(gap_data(inst, "max"), CFG)
    assert res.status == OPTIMAL
    assert res.objective == pytest.approx(336)


@pytest.mark.slow
@pytest.mark.parametrize("name,sense,k,value", CASES, ids=[f"{c[0]}-{c[2] + 1}" for c in CASES])
def test_every_published_optimum(name, sense, k, value):
    inst = read_orlib_gap(DATA / f"{name}.txt")[k]
    res = solve_assignment(gap_data(inst, sense), CFG)
    assert res.status == OPTIMAL
    assert res.objective == pytest.approx(value, abs=1e-6)


def test_malformed_files(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("1\n2 2\n1 2 3 x\n")
    with pytest.raises(InputError, match="whole numbers"):
        read_orlib_gap(bad)
    short = tmp_path / "short.txt"
    short.write_text("1\n2 3\n1 2 3 4 5 6\n1 1 1\n")
    with pytest.raises(InputError, match="at least"):
        read_orlib_gap(short)
    with pytest.raises(InputError, match="existing"):
        read_orlib_gap(tmp_path / "missing.txt")


def test_cli_prints_one_line_per_instance(capsys):
    code = gap_main([str(DATA / "gap1.txt"), "--sense", "max", "--time-limit", "60"])
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    rows = [line.split() for line in out[1:-1]]
    assert len(rows) == 5
    assert [float(r[4]) for r in rows] == OPTIMA["max"]["gap1"]
    assert all(r[3] == "optimal" for r in rows)
    assert out[-1].startswith("total ")


def test_cli_bad_file_is_one_line_error(tmp_path, capsys):
    code = gap_main([str(tmp_path / "nope.txt"), "--sense", "min"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("perllm-opt-gap: error:") and "Traceback" not in err
