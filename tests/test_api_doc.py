"""docs/api.md runs as written and prints what it shows; the names of ``perllm_opt.__all__``
are importable, documented (numpydoc) and loaded lazily."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import perllm_opt

DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"
#: A fenced block: its language and its text.
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.S | re.M)


def blocks(language: str) -> list[str]:
    return [text for lang, text in BLOCK.findall(DOC.read_text("utf-8")) if lang == language]


def numpydoc_section(doc: str, title: str) -> str:
    """The body of section ``title`` of a numpydoc docstring (up to the next section)."""
    body = doc.split(f"{title}\n{'-' * len(title)}\n", 1)[1]
    return re.split(r"^\w[\w ]*\n-+$", body, maxsplit=1, flags=re.M)[0]


def test_doc_runs_as_written_and_prints_what_it_shows(tmp_path, monkeypatch, capsys):
    code = blocks("python")
    shown = [line for block in blocks("text") for line in block.splitlines() if line.strip()]
    assert len(code) >= 2 and len(shown) >= 4
    monkeypatch.chdir(tmp_path)  # the example writes nothing; if it did, not here
    namespace: dict = {"__name__": "__api_doc__"}
    for block in code:  # one namespace, as in a notebook
        exec(compile(block, str(DOC), "exec"), namespace)
    printed = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    # Every line shown, in order (HiGHS may print its banner in between).
    rest = iter(printed)
    for line in shown:
        assert any(p == line for p in rest), f"shown, not printed: {line!r}\nprinted: {printed}"
    # The printed regret is the optimum's on-time count minus the scheduler's.
    best, runs = namespace["best"], namespace["runs"]
    assert set(runs) == {"cs_ucb", "greedy_energy"}
    for name, run in runs.items():
        regret = perllm_opt.regret_of(run, best)
        assert regret.requests == best.metrics.served - run.metrics.served
        assert f"{name}: {run.metrics.served} on time, regret {regret.requests} requests" in (
            "\n".join(printed)
        )
    assert not list(tmp_path.iterdir())


def test_doc_uses_only_names_of_perllm_opt():
    used = set()
    for block in blocks("python"):
        used |= set(re.findall(r"\bpo\.(\w+)", block))
    assert used and used <= set(perllm_opt.__all__), used - set(perllm_opt.__all__)


def test_every_public_name_is_importable_and_documented():
    names = [n for n in perllm_opt.__all__ if n != "__version__"]
    assert sorted(names) == sorted(perllm_opt._EXPORTS)
    for name in names:
        obj = getattr(perllm_opt, name)
        doc = inspect.getdoc(obj)
        assert doc and len(doc.splitlines()[0]) > 10, name
        if inspect.isfunction(obj):
            # numpydoc: the sections a caller needs, and every parameter listed.
            for section in ("Parameters", "Returns"):
                assert re.search(rf"^{section}\n-{{{len(section)}}}$", doc, re.M), (name, section)
            listed = set()
            for line in re.findall(r"^(\S[^:\n]*) :", numpydoc_section(doc, "Parameters"), re.M):
                listed |= {n.strip() for n in line.split(",")}
            params = set(inspect.signature(obj).parameters)
            assert params <= listed, (name, params - listed)
    assert "evaluate_assignment" in dir(perllm_opt)


def test_unknown_name_raises_attribute_error():
    try:
        perllm_opt.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("perllm_opt.no_such_name did not raise")


def test_import_is_light():
    """``import perllm_opt`` loads no heavy module; the first use of a name loads it."""
    probe = (
        "import sys, perllm_opt\n"
        "heavy = ('numpy', 'hydra', 'pyomo', 'perllm_opt.runner')\n"
        "heavy = [m for m in heavy if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "perllm_opt.build_instance\n"
        "assert 'perllm_opt.instance.build' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", probe], check=True, timeout=120)
