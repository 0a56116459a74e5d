"""Evaluation: one scorer for every assignment (a scheduler's or the optimum's), regret against
the references, and the result tables of a run and of a sweep (the fifth stage)."""
