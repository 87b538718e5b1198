"""One row per check of the robustness suite, and the Markdown table they make."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Row:
    area: str  # "bad input", "crash safety", ...
    check: str  # what was done
    measured: str  # what came out, in figures
    ok: bool  # met the target
    target: str = ""


def format_table(rows: list[Row]) -> str:
    lines = ["| area | check | measured | target | result |", "| --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r.area} | {r.check} | {r.measured} | {r.target} | {'ok' if r.ok else 'FAIL'} |")
    return "\n".join(lines)
