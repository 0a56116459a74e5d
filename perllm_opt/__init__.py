"""perllm-opt: PerLLM edge-cloud LLM inference scheduling with an exact optimum.

Implements the model of Yang et al., "PerLLM: Personalized Inference Scheduling with
Edge-Cloud Collaboration for Diverse LLM Services", arXiv:2405.14636 (2024), as documented in
``docs/model.md``: a NetworkX edge-cloud topology, one option table of delays and energies,
a round-based simulator for online schedulers (CS-UCB and baselines), and a Pyomo/HiGHS MILP
giving the offline optimum of the same realised instance.
"""

__version__ = "0.1.0"
