"""The realised instance: every request's options (delays, energies, on time or not) under the
realised dynamics, built once from the system and the workload (the third stage of the data
flow), with what the stages after it share: the assignment, the timeline, the size guard."""
