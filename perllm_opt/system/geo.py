"""Distances on the Earth and the latency of a fibre link of a given length.

Sources (docs/model.md, "Systems on real networks and sites"): the speed of light in silica
fibre (group index about 1.468 at 1550 nm: 4.9 us/km); fibre routes longer than the
great-circle line by a median factor of 1.3 (shortest conduit paths between the 120 largest
US population centres, Bozkurt et al., "Dissecting Latency in the Internet's Fiber
Infrastructure", arXiv:1811.10737, 2018); a router hop of tens of microseconds (under 20 us
within a line card, about twice across the switch fabric: Papagiannaki et al., "Measurement
and analysis of single-hop delay on an IP backbone network", IEEE JSAC 21(6), 2003).
"""

from __future__ import annotations

import numpy as np

#: Mean radius of the Earth (IUGG), km.
EARTH_RADIUS_KM = 6371.0088
#: One-way latency of light in single-mode fibre, us per km (c / 1.468).
FIBRE_US_PER_KM = 4.9
#: Fibre route length over great-circle distance (Bozkurt et al. 2018, median over conduits).
ROUTE_FACTOR = 1.3
#: Rule-of-thumb Internet path length over great-circle distance, routing included
#: (Bozkurt et al. 2018, from earlier measurement campaigns): for a path across others' networks.
INTERNET_ROUTE_FACTOR = 2.1
#: Forwarding latency of one router hop, ms (Papagiannaki et al. 2003: ~40 us across the fabric).
HOP_LATENCY_MS = 0.04


def great_circle_km(
    lon1_deg: np.ndarray | float,
    lat1_deg: np.ndarray | float,
    lon2_deg: np.ndarray | float,
    lat2_deg: np.ndarray | float,
) -> np.ndarray:
    """Great-circle (haversine) distance in km between points given in degrees."""
    lon1, lat1, lon2, lat2 = (
        np.radians(np.asarray(x, dtype=float)) for x in (lon1_deg, lat1_deg, lon2_deg, lat2_deg)
    )
    a = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def fibre_latency_ms(
    length_km: float, fibre_us_per_km: float, route_factor: float, hop_latency_ms: float
) -> float:
    """One-way latency of a link: light over ``route_factor * length_km`` of fibre plus one
    router hop."""
    return float(hop_latency_ms + route_factor * length_km * fibre_us_per_km / 1e3)
