"""The expected token counts of the service types' configured laws (clipped, rounded
log-normals), by quadrature: what every scheduler may know of a request's output length."""

from __future__ import annotations

import numpy as np

from perllm_opt.config import ServiceTypeConfig

#: Standard-normal quadrature nodes for expectations of clipped log-normal token lengths.
QUAD_Z = np.linspace(-6.0, 6.0, 2401)
QUAD_W = np.exp(-0.5 * QUAD_Z**2)
QUAD_W /= QUAD_W.sum()
QUAD_Z.flags.writeable = False
QUAD_W.flags.writeable = False


def expected_tokens(median: float, sigma: float, lo: int, hi: int) -> float:
    """E[clip(round(median * exp(sigma Z)), lo, hi)] for standard normal Z (quadrature)."""
    values = np.clip(np.rint(median * np.exp(sigma * QUAD_Z)), lo, hi)
    return float((values * QUAD_W).sum())


def expected_output_tokens(services: tuple[ServiceTypeConfig, ...]) -> np.ndarray:
    """Mean output length of each service type under its configured distribution."""
    return np.asarray(
        [
            expected_tokens(
                s.output_median_tokens, s.output_sigma, s.output_min_tokens, s.output_max_tokens
            )
            for s in services
        ]
    )
