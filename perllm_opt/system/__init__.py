"""The system: the edge-cloud topology and its presets, the model and device catalogue, and
which models each server hosts (the first stage of the data flow)."""
