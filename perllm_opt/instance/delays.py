"""The delay and energy formulas of docs/model.md, written once.

The option table applies them to ground truth; the schedulers' estimates apply the very same
functions to what a scheduler may know (profile speeds, mean output lengths, nominal
slowdown). All functions broadcast over numpy arrays.

Notation (docs/model.md): a request with ``prompt`` and ``output`` tokens on a server with
share ``phi`` of its compute; the device serves the model at ``prefill_tok_s`` prompt tokens/s
and ``decode_tok_s`` output tokens/s when saturated, with a batch-1 floor of
``decode_floor_s_per_token``; ``speed`` is the server's true speed relative to its profile and
``slowdown`` its background-load factor in the round.
"""

from __future__ import annotations

import numpy as np

BITS_PER_BYTE = 8.0


def uplink_bits(prompt_tokens, attachment_bytes, bytes_per_token: float):
    """Bits sent to the server: the prompt text plus any attachment."""
    return BITS_PER_BYTE * (bytes_per_token * prompt_tokens + attachment_bytes)


def downlink_bits(output_tokens, bytes_per_token: float):
    """Bits of the answer sent back."""
    return BITS_PER_BYTE * bytes_per_token * output_tokens


def transmission_time_s(up_bits, rate_mbps, path_latency_s):
    """D_tran = uplink bits / reserved rate + one-way latency there and back.

    The answer streams back while it is generated, so only its last propagation delay adds
    to the processing time.
    """
    return up_bits / (rate_mbps * 1e6) + 2.0 * path_latency_s


def transmission_energy_j(total_bits, path_energy_j_per_bit):
    """E_tran = bits moved (both ways) x the per-bit energy summed over the path's links."""
    return total_bits * path_energy_j_per_bit


def prefill_s_per_token(phi, prefill_tok_s, speed=1.0):
    """Seconds per prompt token with share ``phi``: prefill is compute-bound and scales."""
    return 1.0 / (phi * prefill_tok_s * speed)


def decode_s_per_token(phi, decode_floor_s_per_token, decode_tok_s, speed=1.0):
    """Seconds per output token with share ``phi``.

    ``max(floor, 1 / (phi * decode_tok_s)) / speed``: a share of a batched server's aggregate
    decode throughput, never faster than batch-1 decoding (memory-bound floor).
    """
    return np.maximum(decode_floor_s_per_token, 1.0 / (phi * decode_tok_s)) / speed


def inference_time_s(prompt_tokens, output_tokens, prefill_spt, decode_spt, slowdown=1.0):
    """D_infer = (prompt x s/prompt-token + output x s/output-token) x slowdown."""
    return (prompt_tokens * prefill_spt + output_tokens * decode_spt) * slowdown


def inference_energy_j(active_power_w, phi, run_s):
    """E_infer = P_active x phi x (seconds the share is held)."""
    return active_power_w * phi * run_s


def idle_energy_j(idle_power_w, on_s, busy_share_s):
    """E_idle = P_idle x (tau x on - busy share-seconds): idle draw not covered by work."""
    return idle_power_w * (on_s - busy_share_s)
