"""CI thresholds: a metric under its minimum (or a rate over its maximum) fails the run."""

from __future__ import annotations

# Metrics where lower is better: their threshold is a maximum.
LOWER_IS_BETTER = {"false_refusal_rate", "latency_p50_s", "latency_p95_s"}


def check_thresholds(metrics: dict, thresholds: dict) -> list[str]:
    failures = []
    for key, limit in thresholds.items():
        value = metrics.get(key)
        if value is None:
            failures.append(f"{key} was not measured")
        elif key in LOWER_IS_BETTER and value > limit:
            failures.append(f"{key} = {value:.3f} > {limit}")
        elif key not in LOWER_IS_BETTER and value < limit:
            failures.append(f"{key} = {value:.3f} < {limit}")
    return failures
