"""The edge-cloud system: topologies built on real networks and real sites."""
