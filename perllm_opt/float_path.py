"""numpy's floating-point path, the one thing that still varies a run between machines.

On a CPU with AVX-512, numpy 2.x computes ``exp``, ``log`` and ``tanh`` with its own
kernels, which differ from the C library's in the last bit for some arguments; the MILPs of
the schedulers and the optimum can amplify such a bit into another plan (an example:
docs/design_notes.md). ``NPY_DISABLE_CPU_FEATURES`` set to numpy's AVX-512 targets before
numpy is imported puts such a machine on the path of every other x86-64 machine, the path
the committed tables were made on. ``python -m perllm_opt.float_path`` prints the value
for this machine (empty where there is nothing to turn off)::

    NPY_DISABLE_CPU_FEATURES="$(python -m perllm_opt.float_path)" perllm-opt ...

"""

from __future__ import annotations

import numpy as np

#: The environment variable numpy reads, once, at import.
ENV = "NPY_DISABLE_CPU_FEATURES"


def avx512_targets() -> list[str]:
    """numpy's dispatch targets on this machine that use AVX-512 (empty on other CPUs).

    numpy 2.4 names them ``X86_V4``, ``AVX512_ICL``, ``AVX512_SPR``; older releases
    ``AVX512F``, ``AVX512_SKX`` and so on. Only targets this CPU has are listed: numpy refuses
    to disable one it does not know.
    """
    core = getattr(np, "_core", None) or np.core  # numpy < 2 keeps it in np.core
    umath = core._multiarray_umath
    have = umath.__cpu_features__
    return [
        name
        for name in umath.__cpu_dispatch__
        if (name.startswith("AVX512") or name == "X86_V4") and have.get(name, False)
    ]


def portable_env(environ: dict[str, str]) -> dict[str, str]:
    """A copy of ``environ`` in which a new Python process takes numpy's non-AVX-512 path."""
    env = dict(environ)
    targets = avx512_targets()
    if targets:
        env[ENV] = " ".join(targets)
    return env


if __name__ == "__main__":
    print(" ".join(avx512_targets()))
