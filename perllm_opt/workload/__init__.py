"""Workloads: request traces in their several layouts."""
