"""Load: concurrent API clients (streaming and not) while an ingest runs.

The API is served by uvicorn on 127.0.0.1 with a stand-in model that is slow like the
local one on a small scale (it streams a quote of the first passage, word by word) and
records how many of its streams ever ran at once: the one llama.cpp context is not
thread-safe, so that must stay 1. Every request must succeed with the answer it gets
when asked alone, or get 429/503 with Retry-After, within ``bound`` seconds.
"""

from __future__ import annotations

import re
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from . import free_port

def questions_about(paths: list[Path]) -> list[str]:
    """One question per generated article (eval/robustness/corpus.py), about its own topic."""
    asked = []
    for path in paths:
        topic, town = re.match(r"The (\w+) of (\w+)", path.read_text(encoding="utf-8")).groups()
        asked.append(f"How many workers did the {topic} of {town} record?")
    return asked


class SlowLLM:
    """Quotes the first passage's opening words, ``delay`` seconds per word; counts
    overlapping streams (``max_active`` > 1 means two generations ran at once)."""

    name = "robustness:slow-quote"

    def __init__(self, delay: float = 0.03, words: int = 12) -> None:
        self.delay, self.words = delay, words
        self.active = self.max_active = self.calls = 0
        self._lock = threading.Lock()

    def stream(self, messages, *, max_tokens, temperature, avoid=()):
        with self._lock:
            self.active += 1
            self.calls += 1
            self.max_active = max(self.max_active, self.active)
        try:
            found = re.search(r"^\[1\] \([a-z-]*\) (.*)$", messages[-1]["content"], re.M)
            words = (found.group(1) if found else "NOT FOUND").split()[: self.words]
            for word in words:
                time.sleep(self.delay)
                yield word + " "
            yield "[1]."
        finally:
            with self._lock:
                self.active -= 1


@dataclass
class LoadResult:
    outcomes: dict[str, int] = field(default_factory=dict)  # "200", "429", "503", "wrong", "error: ..."
    latencies: list[float] = field(default_factory=list)
    over_bound: int = 0
    missing_retry_after: int = 0
    waits: list[float] = field(default_factory=list)
    max_running: int = 0
    llm_max_active: int = 0
    seconds: float = 0.0
    ingest_report: str = ""
    alive_after: bool = False

    def percentile(self, values: list[float], q: float) -> float:
        return percentile(values, q)


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (nearest rank), 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]




def _ask(client, question: str, stream: bool) -> tuple[int, dict, str]:
    body = {"model": "rag-news", "messages": [{"role": "user", "content": question}], "stream": stream}
    if not stream:
        response = client.post("/v1/chat/completions", json=body)
        text = response.json()["choices"][0]["message"]["content"] if response.status_code == 200 else ""
        return response.status_code, response.headers, text
    import json

    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        if response.status_code != 200:
            response.read()
            return response.status_code, response.headers, ""
        final = ""
        for line in response.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                event = json.loads(line[6:])
                if "error" in event:
                    return 599, response.headers, event["error"]["message"]
                if event.get("choices") and event["choices"][0].get("finish_reason") == "stop":
                    final = event.get("final_text", "")
        return 200, response.headers, final


def load_test(root: Path, *, clients: int = 20, rounds: int = 3, ingest_files: int = 50, bound: float = 60.0,
              max_waiting: int = 12, queue_timeout: float = 20.0, delay: float = 0.03) -> LoadResult:
    import httpx
    import uvicorn

    from rag.config import RAGConfig
    from rag.indexing import ingest_paths
    from rag.serve import create_app
    from rag.store import open_store

    from .corpus import small_articles
    from .crash import HashEmbedder

    config = RAGConfig(data_dir=root / "data", collection="load", gate_calibration="off", top_k=3, chunk_tokens=60,
                       chunk_overlap_tokens=10, api_max_waiting=max_waiting, api_queue_timeout=queue_timeout,
                       translate_queries=False)
    embedder = HashEmbedder()
    store = open_store(config=config, embedder=embedder)
    first = small_articles(root / "first", 8)
    ingest_paths(first, config=config, store=store, embedder=embedder)
    QUESTIONS = questions_about(first[:6])
    llm = SlowLLM(delay)
    app = create_app(config, store=store, embedder=embedder, llm=llm)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    result = LoadResult()
    lock = threading.Lock()
    try:
        with httpx.Client(base_url=base, timeout=bound) as solo:
            expected = {q: _ask(solo, q, False)[2] for q in QUESTIONS}  # asked alone, before the load
        # Articles added meanwhile, on another subject: the answers must stay the same.
        (root / "later").mkdir()
        for i in range(ingest_files):
            (root / "later" / f"bulletin_{i:04d}.txt").write_text(
                f"Rain bulletin {i}\n\nGauge {i} measured {i % 17 + 3} millimetres of rain on day {i % 28 + 1}. "
                f"The gauge {i} stands near kilometre {i * 7}.\n", encoding="utf-8")

        def ingest() -> None:
            report = ingest_paths([root / "later"], config=config, store=store, embedder=embedder)
            result.ingest_report = report.summary()

        def client_loop(index: int) -> None:
            with httpx.Client(base_url=base, timeout=bound) as client:
                for r in range(rounds):
                    question = QUESTIONS[(index + r) % len(QUESTIONS)]
                    t0 = time.monotonic()
                    try:
                        status, headers, text = _ask(client, question, stream=(index + r) % 2 == 0)
                    except httpx.TimeoutException:
                        status, headers, text = 0, {}, "timeout"
                    except httpx.HTTPError as exc:
                        status, headers, text = -1, {}, type(exc).__name__
                    elapsed = time.monotonic() - t0
                    if status == 200:
                        outcome = "200" if text == expected[question] else "wrong"
                        if outcome == "wrong":
                            print(f"    wrong answer to {question!r}: {text!r} (alone: {expected[question]!r})")
                    elif status in (429, 503):
                        outcome = str(status)
                        if not headers.get("retry-after", "").isdigit():
                            with lock:
                                result.missing_retry_after += 1
                    else:
                        outcome = f"error {status} {text[:60]}"
                    with lock:
                        result.outcomes[outcome] = result.outcomes.get(outcome, 0) + 1
                        result.latencies.append(elapsed)
                        result.over_bound += elapsed > bound
                    if status in (429, 503):
                        time.sleep(min(2.0, float(headers.get("retry-after", 1))))

        started = time.monotonic()
        ingest_thread = threading.Thread(target=ingest)
        ingest_thread.start()
        threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(bound * rounds + 30)
        ingest_thread.join(300)
        result.seconds = time.monotonic() - started
        with httpx.Client(base_url=base, timeout=bound) as solo:
            result.alive_after = _ask(solo, QUESTIONS[0], False)[0] == 200
            health = solo.get("/health").json()
        result.max_running = health["queue"]["max_running"]
        result.waits = list(app.state.service.queue.waits)
        result.llm_max_active = llm.max_active
    finally:
        server.should_exit = True
    return result


def run_section(*, clients: int) -> list:
    import tempfile

    from .report import Row

    with tempfile.TemporaryDirectory(prefix="rag-load-") as tmp:
        r = load_test(Path(tmp), clients=clients, rounds=4, ingest_files=50)
    ok = sum(n for k, n in r.outcomes.items() if k == "200")
    total = sum(r.outcomes.values())
    served = ", ".join(f"{k}: {n}" for k, n in sorted(r.outcomes.items()))
    good = (r.over_bound == 0 and r.missing_retry_after == 0 and r.alive_after and r.max_running == 1
            and r.llm_max_active == 1 and all(k in ("200", "429", "503") for k in r.outcomes))
    return [Row("load", f"{clients} concurrent API clients x 4 (half streaming) while 50 files are indexed, "
                        f"stand-in model ~0.4 s/answer",
                f"{served}; {r.over_bound} over 60 s; {r.missing_retry_after} 429/503 without Retry-After; "
                f"generations at once: {r.max_running} (model streams at once: {r.llm_max_active}); queue wait "
                f"p50 {statistics.median(r.waits or [0]):.2f} s, p95 {r.percentile(r.waits, 0.95):.2f} s; "
                f"{ok / r.seconds:.2f} answers/s over {r.seconds:.0f} s ({total} requests); ingest: {r.ingest_report}",
                good, "200 or 429/503 + Retry-After, none > 60 s, 1 generation at a time")]
