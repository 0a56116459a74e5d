"""Rival online schedulers for PerLLM's CS-UCB, all on :class:`perllm_opt.schedulers.Scheduler`.

Each scheduler is one module here plus one ``conf/scheduler/<name>.yaml``.
"""
