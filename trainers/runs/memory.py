"""Resident memory of a trial's process, reported with every evaluation so a leak shows in the results."""

from __future__ import annotations

import psutil


def resident_memory_mb() -> float:
    """This worker's resident memory in MiB (a single-process trial, or one rank of a data-parallel one)."""
    return psutil.Process().memory_info().rss / 2**20
