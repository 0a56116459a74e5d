"""Regenerate PerLLM's results and our regret/optimality figures (``perllm-opt-paper``).

``experiments`` runs the named sweeps of ``conf/experiment/`` through the main command
(resuming runs already complete) and collects them; ``figures`` and ``claims`` only read the
saved tables: drawing never simulates.
"""
