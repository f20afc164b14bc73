"""The fuzz budget: hypothesis settings shared by tests/fuzz (bounded, no example database in
the working tree). LVYUE_FUZZ_SCALE=10 runs ten times the examples for a deeper local hunt."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

SCALE = float(os.environ.get("LVYUE_FUZZ_SCALE", "1"))


def budget(examples: int) -> settings:
    """`examples` per test and engine (times LVYUE_FUZZ_SCALE); no deadline (a loaded CI
    machine is slow, not wrong); function-scoped fixtures (the app, the database) are shared
    by the examples of one test on purpose."""
    return settings(max_examples=max(1, int(examples * SCALE)), deadline=None, database=None,
                    suppress_health_check=list(HealthCheck), print_blob=True)
