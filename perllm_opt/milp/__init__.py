"""The exact optimisation layer: a generic assignment-with-capacities MILP in Pyomo, solved
with HiGHS, and its two users: PerLLM's offline optimum and the OR-Library GAP benchmark."""
