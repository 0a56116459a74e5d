"""Which project model each benchmarked model is (``data/models.yaml``): :class:`ModelRule`
patterns first, then the parameter count (within :data:`PARAMS_TOLERANCE`); a benchmarked
model that maps to none is an error. Also the fastest pp or tg test of a model."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath

from perllm_opt.calibration.llama_bench import BenchRow
from perllm_opt.errors import InputError
from perllm_opt.system.catalog import ModelSpec

#: Relative difference of parameter counts within which a benchmarked model is taken to be a
#: model of ``models.yaml`` (Llama-2-7B: llama-bench 6.738 B, models.yaml 6.74 B).
PARAMS_TOLERANCE = 0.02


@dataclass(frozen=True)
class ModelRule:
    """``--model NAME=PATTERN``: benchmarked models whose ``model_type`` or file name matches
    the glob ``PATTERN`` (case-insensitive) are the project's model ``NAME``."""

    model: str
    pattern: str

    @classmethod
    def parse(cls, text: str) -> ModelRule:
        """A rule from ``"NAME=PATTERN"``."""
        name, sep, pattern = text.partition("=")
        if not sep or not name.strip() or not pattern.strip():
            raise InputError("--model", text, "NAME=PATTERN, e.g. llama2-7b='*llama-2-7b*'")
        return cls(model=name.strip(), pattern=pattern.strip())

    def matches(self, row: BenchRow) -> bool:
        """Whether ``row``'s model type, file path or file name matches the pattern."""
        pat = self.pattern.lower()
        names = (row.model_type, row.model_filename, PurePath(row.model_filename).name)
        return any(fnmatch.fnmatchcase(n.lower(), pat) for n in names)


def precision_of(model_type: str) -> str:
    """The weight precision in llama.cpp's model description, as ``models.yaml`` names it.

    ``"llama 7B Q4_0"`` and ``"llama 7B mostly Q4_0"`` give ``"q4_0"``, ``"llama 7B F16"``
    ``"fp16"``, ``"qwen2 7B Q4_K - Medium"`` ``"q4_k_medium"`` (architecture, size, file type:
    ``llama_model_desc``).
    """
    words = model_type.split()
    ftype = " ".join(words[2:]).lower() if len(words) > 2 else ""
    for prefix in ("mostly ", "all "):
        ftype = ftype.removeprefix(prefix)
    ftype = {"f16": "fp16", "f32": "fp32"}.get(ftype, ftype)
    return ftype.replace(" - ", "_").replace(" ", "_")


def map_models(
    rows: Sequence[BenchRow], models: Mapping[str, ModelSpec], rules: Sequence[ModelRule] = ()
) -> dict[str, tuple[str, tuple[BenchRow, ...]]]:
    """Which project model each benchmarked model is.

    Parameters
    ----------
    rows : sequence of BenchRow
        The benchmark results.
    models : mapping
        The project's models (``models.yaml``).
    rules : sequence of ModelRule
        Explicit mappings; a row no rule matches is mapped by parameter count.

    Returns
    -------
    dict
        Project model -> (how it was matched, its rows).

    Raises
    ------
    InputError
        For a rule naming an unknown model, a row two rules claim, a row no model matches,
        and two different benchmarked models mapped to one project model.
    """
    for rule in rules:
        if rule.model not in models:
            raise InputError(
                "--model", rule.model, f"a model of models.yaml, one of {sorted(models)}"
            )
    found: dict[str, list[BenchRow]] = {}
    how: dict[str, str] = {}
    for row in rows:
        hits = sorted({r.model for r in rules if r.matches(row)})
        if len(hits) > 1:
            raise InputError(
                f"{row.source} {row.where} model_type",
                row.model_type,
                f"one --model pattern to match it, not those of {hits}",
            )
        if hits:
            name = hits[0]
            pattern = next(r.pattern for r in rules if r.model == name and r.matches(row))
            note = f"mapped by --model {name}={pattern}"
        else:
            n_b = row.model_n_params / 1e9
            near = [m for m, s in models.items() if abs(n_b / s.params_b - 1) <= PARAMS_TOLERANCE]
            if len(near) != 1:
                known = {m: s.params_b for m, s in models.items()}
                raise InputError(
                    f"{row.source} {row.where} model_n_params",
                    row.model_n_params,
                    f"the parameter count of exactly one model of models.yaml (within "
                    f"{PARAMS_TOLERANCE:.0%}; billions: {known}) for '{row.model_type}', or "
                    f"--model NAME=PATTERN naming its model",
                )
            name = near[0]
            note = (
                f"matched by parameter count to {name}'s {models[name].params_b:g} B "
                f"(within {PARAMS_TOLERANCE:.0%})"
            )
        found.setdefault(name, []).append(row)
        how.setdefault(name, note)
    for name, rs in found.items():
        kinds = sorted({(r.model_type, r.model_n_params) for r in rs})
        if len(kinds) > 1:
            raise InputError(
                f"models mapped to {name}",
                [k[0] for k in kinds],
                f"one benchmarked model per project model (choose one with --model {name}=PATTERN)",
            )
    return {name: (how[name], tuple(rs)) for name, rs in found.items()}


def fastest(rows: Sequence[BenchRow], test: str, model: str) -> BenchRow:
    usable = [r for r in rows if r.test == test and r.n_depth == 0]
    if not usable:
        r0 = rows[0]
        what = (
            "a pp test (n_prompt > 0, n_gen = 0)"
            if test == "pp"
            else "a tg test (n_prompt = 0, n_gen > 0)"
        )
        raise InputError(
            f"{r0.source}: llama-bench model '{r0.model_type}' ({model})",
            sorted({r.label for r in rows}),
            f"{what} with n_depth 0: run llama-bench with -p 512 -n 128 (its defaults)",
        )
    return max(usable, key=lambda r: r.avg_ts)
