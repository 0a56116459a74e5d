"""The system: the edge-cloud topology (presets, a user file, or one built on a real network
or on real sites), the model and device catalogue, and which models each server hosts (the
first stage of the data flow)."""
