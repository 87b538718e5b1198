"""The chat UI: ask the indexed news articles, see the cited passages, manage documents.

    python ui.py [--host 127.0.0.1] [--port 7860] [--no-ingest]

Host and port also come from RAG_UI_HOST / RAG_UI_PORT. On start, an empty index is
filled with seeds/ first (unless --no-ingest). Every handler is a plain method of
``RagUI`` so tests can call it directly; ``build_app`` wires them into Gradio Blocks.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import argparse  # noqa: E402
import html  # noqa: E402
import logging  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Iterator  # noqa: E402

import gradio as gr  # noqa: E402

from rag.answer import MAX_QUESTION_CHARS, Answer, Citation, EmptyIndexError, ask_stream, question_text  # noqa: E402
from rag.config import RAGConfig  # noqa: E402
from rag.resources import Resources  # noqa: E402
from rag.language import REFUSALS, language_name  # noqa: E402
from rag.llm import LLMError  # noqa: E402
from rag.serve import StreamingCitationView, is_loopback  # noqa: E402

log = logging.getLogger("rag.ui")

BACKENDS = ["local", "openai", "extractive"]
MAX_PASSAGES = 10  # the Settings slider's range is 1..MAX_PASSAGES
UPLOAD_TYPES = [".txt", ".md", ".markdown", ".html", ".htm"]
UPLOAD_STAGING_PREFIX = "rag-upload-"  # + "<pid>-": where an upload is copied while it is indexed
DOCUMENT_HEADERS = ["doc_id", "title", "language", "chunks"]
CHAT_QUEUE, INDEX_QUEUE = "chat", "index"  # Gradio concurrency groups (build_app)
EXAMPLES = [
    "Quels chercheurs Meta a-t-il recrutés le 7 juillet ?",
    "Which Apple executive vetoed open-sourcing some of Apple's foundation models in 2023?",
    "Meta在Scale AI上投资了多少钱？",
]

CSS = """
#sources { max-height: 640px; overflow-y: auto; }
.rag-sources h3 { margin: 0 0 .1rem 0; font-size: 1rem; }
.rag-sources-question { font-size: .8rem; opacity: .75; margin-bottom: .5rem; }
.rag-source { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: .6rem .75rem;
              margin-bottom: .6rem; background: var(--background-fill-secondary); }
.rag-source-head { font-weight: 600; }
.rag-source-n { color: var(--color-accent); margin-right: .25rem; }
.rag-source-meta { font-size: .8rem; opacity: .8; margin: .15rem 0 .4rem 0; }
.rag-source-meta code { font-size: .8rem; }
.rag-passage { white-space: pre-wrap; margin: 0; padding-left: .6rem; border-left: 3px solid var(--color-accent);
               font-size: .9rem; line-height: 1.5; }
.rag-passage mark, .rag-context-text mark { background: #ffe58a; color: #1f1f1f; padding: 0 .1em; border-radius: 2px; }
.rag-context { margin-top: .4rem; font-size: .85rem; }
.rag-context summary { cursor: pointer; opacity: .85; }
.rag-context-text { white-space: pre-wrap; line-height: 1.5; margin-top: .3rem; opacity: .9; }
.rag-context-passage { background: rgba(120, 160, 255, .15); }
.rag-sources-empty { padding: .75rem; opacity: .8; font-style: italic; }
.rag-refusal { margin-top: .4rem; padding: .35rem .6rem; border-left: 4px solid #d97706;
               background: rgba(217, 119, 6, .12); border-radius: 4px; font-weight: 500; }
.rag-error { padding: .35rem .6rem; border-left: 4px solid #dc2626; background: rgba(220, 38, 38, .10);
             border-radius: 4px; }
"""

SOURCES_EMPTY = '<div class="rag-sources-empty">Sources of the answer appear here.</div>'
SOURCES_SEARCHING = '<div class="rag-sources-empty">Searching the articles…</div>'
SOURCES_WRITING = '<div class="rag-sources-empty">Writing the answer…</div>'
SOURCES_NONE = '<div class="rag-sources-empty rag-no-sources">No sources: the articles don\'t answer this question.</div>'
SOURCES_ERROR = '<div class="rag-sources-empty">No sources (the question could not be answered).</div>'

_REFUSAL_NOTE = re.compile(r'\s*<p class="rag-refusal">.*?</p>', re.S)
_TAG = re.compile(r"<[^>]+>")


def _esc(text: str) -> str:
    return html.escape(str(text), quote=True)


# -- chat message helpers -------------------------------------------------------------
def message_text(message: Any) -> str:
    """The text of a Chatbot message (Gradio 6 gives content as a list of parts)."""
    content = message.get("content") if isinstance(message, dict) else getattr(message, "content", "")
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or "")
    if isinstance(content, (list, tuple)):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and part.get("type", "text") == "text":
                parts.append(str(part.get("text") or ""))
            elif getattr(part, "type", None) == "text":
                parts.append(str(getattr(part, "text", "") or ""))
        return "".join(parts)
    return str(content)


def _role(message: Any) -> str:
    return message.get("role", "") if isinstance(message, dict) else getattr(message, "role", "")


def conversation_pairs(messages: list | None) -> list[tuple[str, str]]:
    """(question, answer) pairs of the chat so far, for follow-up questions.

    Failed turns (error messages) are left out and answers lose the refusal note and
    any markup, so the model sees what the user saw as plain text.
    """
    pairs: list[tuple[str, str]] = []
    pending: str | None = None
    for message in messages or []:
        role, text = _role(message), message_text(message)
        if role == "user":
            pending = text.strip()
        elif role == "assistant" and pending:
            if is_error_message(message):
                pending = None
                continue
            clean = html.unescape(_TAG.sub("", _REFUSAL_NOTE.sub("", text))).strip()
            pairs.append((pending, clean))
            pending = None
    return pairs


def _assistant(content: str) -> dict:
    return {"role": "assistant", "content": content}


def error_message(text: str) -> dict:
    return _assistant(f'<div class="rag-error">⚠️ {_esc(text)}</div>')


def is_error_message(message) -> bool:
    """A chat message made by ``error_message`` (a failed turn, not an answer)."""
    return 'class="rag-error"' in message_text(message)


def format_answer(answer: Answer) -> str:
    """The chat text of a final answer: its [n] markers kept, refusals flagged."""
    text = _esc(answer.text)
    if not answer.refused:
        return text
    if answer.text.strip() == REFUSALS["en"]:
        note = "No indexed article answers this question, so there are no sources."
    else:
        note = "The articles don't say: no indexed article answers this question, so there are no sources."
    return f'{text}\n\n<p class="rag-refusal">{_esc(note)}</p>'


def friendly_error(exc: BaseException, config: RAGConfig | None = None) -> str:
    from rag.resources import describe_index_error
    from rag.store import EmbedderMismatchError

    if isinstance(exc, EmptyIndexError):
        return "No articles are indexed yet. Add some in the Documents tab (or run: python ingest.py), then ask again."
    if isinstance(exc, LLMError):
        return (f"The language model is unavailable: {exc}. "
                "You can pick the 'extractive' backend under Settings to answer without it.")
    if isinstance(exc, EmbedderMismatchError):
        return str(exc)
    cause = describe_index_error(exc, config=config) if config is not None else None
    if cause:
        return cause
    return "Sorry, something went wrong while answering. The details are in the server log."


# -- sources panel -------------------------------------------------------------------
def _render_span(text: str, offset: int, passage: tuple[int, int] | None,
                 highlight: tuple[int, int] | None) -> str:
    """``text`` (starting at document offset ``offset``), escaped, with the passage
    wrapped in a span and the highlighted sentence in <mark>."""
    end = offset + len(text)
    cuts = {offset, end}
    for span in (passage, highlight):
        if span:
            cuts.update(min(max(p, offset), end) for p in span)
    points = sorted(cuts)
    out = []
    for a, b in zip(points, points[1:]):
        if a == b:
            continue
        piece = _esc(text[a - offset:b - offset])
        if highlight and highlight[0] <= a and b <= highlight[1]:
            piece = f"<mark>{piece}</mark>"
        if passage and passage[0] <= a and b <= passage[1]:
            piece = f'<span class="rag-context-passage">{piece}</span>'
        out.append(piece)
    return "".join(out)


def _highlight_of(c: Citation) -> tuple[int, int] | None:
    if c.highlight_start is None or c.highlight_end is None:
        return None
    start, end = max(c.highlight_start, c.start), min(c.highlight_end, c.end)
    return (start, end) if start < end else None


def context_html(citation: Citation, chunks: list) -> str:
    """The cited passage with the previous and next chunks of its document around it."""
    index = next((i for i, ch in enumerate(chunks) if ch.chunk_id == citation.chunk_id), None)
    if index is None:
        index = next((i for i, ch in enumerate(chunks) if (ch.start, ch.end) == (citation.start, citation.end)), None)
    if index is None:
        return '<div class="rag-context-text"><em>This document is no longer in the index.</em></div>'
    window = chunks[max(0, index - 1): index + 2]
    pieces, covered = [], None
    for ch in window:
        start = ch.start if covered is None else max(ch.start, covered)
        if start >= ch.end:
            continue
        if covered is not None and start > covered:
            pieces.append(" ")  # the whitespace between sentences chunking left out
        pieces.append(_render_span(ch.text[start - ch.start:], start, (citation.start, citation.end),
                                   _highlight_of(citation)))
        covered = ch.end
    prefix = "… " if index > 1 else ""
    suffix = " …" if index + 2 < len(chunks) else ""
    return f'<div class="rag-context-text">{prefix}{"".join(pieces)}{suffix}</div>'


def citation_html(citation: Citation, chunks: list | None) -> str:
    c = citation
    passage = _render_span(c.text, c.start, None, _highlight_of(c))
    language = f"{language_name(c.language)} ({c.language})" if c.language else "unknown language"
    details = ""
    if chunks is not None:
        details = (f'<details class="rag-context"><summary>Show the surrounding text</summary>'
                   f"{context_html(c, chunks)}</details>")
    return (
        f'<div class="rag-source" data-doc-id="{_esc(c.doc_id)}" data-n="{c.n}">'
        f'<div class="rag-source-head"><span class="rag-source-n">[{c.n}]</span> '
        f'<span class="rag-source-title">{_esc(c.title)}</span></div>'
        f'<div class="rag-source-meta">{_esc(language)} · <code>{_esc(c.doc_id)}</code> · '
        f"characters {c.start}–{c.end} · score {c.score:.3f}</div>"
        f'<blockquote class="rag-passage">{passage}</blockquote>'
        f"{details}</div>"
    )


# -- the UI's state and handlers -------------------------------------------------------
def passages_setting(value) -> int:
    """The Settings' number of passages as an int; a clear ValueError for anything else
    (the slider only sends valid ones, scripts through gradio_client may not)."""
    try:
        k = float(value)
    except (TypeError, ValueError):
        k = None
    if k is None or not k.is_integer() or not 1 <= k <= MAX_PASSAGES:
        raise ValueError(f"The number of passages must be a whole number from 1 to {MAX_PASSAGES}, "
                         f"not {value!r}.")
    return int(k)


class RagUI(Resources):
    """Config, store, embedder and model (opened lazily once) and the UI's handlers."""

    def request_config(self, top_k=None, backend=None) -> RAGConfig:
        changes: dict[str, Any] = {}
        if top_k not in (None, ""):
            k = passages_setting(top_k)
            changes["top_k"] = k
            changes["candidates"] = max(self.config.candidates, k)
        if backend:
            if backend not in BACKENDS:
                raise ValueError(f"Unknown backend {backend!r}; pick one of {', '.join(BACKENDS)}.")
            changes["llm"] = backend
        config = self.config.replace(**changes) if changes else self.config
        config.validate()
        return config

    # -- chat ---------------------------------------------------------------------------
    def chat(self, question: str, history: list | None, top_k=None, backend=None
             ) -> Iterator[tuple[list, str, str]]:
        """Stream one answer: yields (chat messages, sources HTML, question box value)."""
        history = list(history or [])
        question = question_text(question)
        if not question:
            yield history + [error_message("Please type a question first.")], SOURCES_EMPTY, ""
            return
        if len(question) > MAX_QUESTION_CHARS:
            yield (history + [error_message(f"The question is too long ({len(question)} characters; "
                                            f"at most {MAX_QUESTION_CHARS}). Please shorten it.")],
                   SOURCES_EMPTY, question)  # left in the box to be shortened
            return
        turns = conversation_pairs(history)
        history.append({"role": "user", "content": question})
        yield history + [_assistant("…")], SOURCES_SEARCHING, ""
        try:
            config = self.request_config(top_k, backend)
        except ValueError as exc:  # settings from a script (the radio only offers valid ones)
            yield history + [error_message(str(exc))], SOURCES_ERROR, ""
            return
        try:
            view = StreamingCitationView(config.top_k)
            shown = ""
            answer: Answer | None = None
            llm = None if config.llm == "extractive" else self.llm
            for item in ask_stream(question, config=config, history=turns, store=self.store(),
                                   embedder=self.embedder(), llm=llm):
                if isinstance(item, Answer):
                    answer = item
                    break
                added = view.feed(item)
                if added:
                    shown += added
                    yield history + [_assistant(_esc(shown))], SOURCES_WRITING, ""
            if answer is None:
                raise RuntimeError("the answer stream ended without an answer")
            sources = self.sources_html(answer)
        except Exception as exc:
            if not isinstance(exc, EmptyIndexError):
                log.exception("answering %r failed", question)
            yield history + [error_message(friendly_error(exc, self.config))], SOURCES_ERROR, ""
            return
        log.info("answered in %.1fs with %s%s (%s)", answer.timings.get("total", 0.0), answer.backend,
                 ", refused" if answer.refused else "",
                 ", ".join(f"{k} {v:.2f}s" for k, v in answer.timings.items() if k != "total"))
        yield history + [_assistant(format_answer(answer))], sources, ""

    def sources_html(self, answer: Answer) -> str:
        if answer.refused or not answer.citations:
            return SOURCES_NONE
        # Which question these are for: an earlier answer's sources can be shown again.
        parts = ['<div class="rag-sources"><h3>Sources</h3>',
                 f'<div class="rag-sources-question">for “{_esc(answer.question)}”</div>']
        chunk_cache: dict[str, list | None] = {}
        for c in answer.citations:
            if c.doc_id not in chunk_cache:
                try:
                    chunk_cache[c.doc_id] = self.store().chunks_of(c.doc_id)
                except Exception:
                    log.exception("reading the chunks of %s failed", c.doc_id)
                    chunk_cache[c.doc_id] = None
            parts.append(citation_html(c, chunk_cache[c.doc_id]))
        parts.append("</div>")
        return "".join(parts)

    def clear_chat(self) -> tuple[list, str, str]:
        return [], SOURCES_EMPTY, ""

    # -- documents ------------------------------------------------------------------------
    def documents(self) -> list[list]:
        return [[d.doc_id, d.title, d.language, d.chunks] for d in self.store().list_documents()]

    def refresh_documents(self) -> tuple[dict, Any, str]:
        """(table, delete dropdown, summary line)."""
        try:
            rows = self.documents()
        except Exception:
            log.exception("listing the documents failed")
            return ({"headers": DOCUMENT_HEADERS, "data": []}, gr.Dropdown(choices=[], value=None),
                    "⚠️ The index could not be read; the details are in the server log.")
        chunks = sum(r[3] for r in rows)
        summary = f"{len(rows)} document{'s' if len(rows) != 1 else ''}, {chunks} chunks indexed."
        return ({"headers": DOCUMENT_HEADERS, "data": rows},
                gr.Dropdown(choices=[r[0] for r in rows], value=None), summary)

    def ingest_files(self, files, progress=gr.Progress()) -> tuple[str, dict, Any, str]:
        """Index uploaded files under their original names: (result line, table, dropdown, summary)."""
        sources = [_upload_path(f) for f in (files or [])]
        sources = [s for s in sources if s is not None]
        if not sources:
            return ("Choose one or more .txt, .md or .html files first.", *self.refresh_documents())
        if len(sources) > self.config.upload_max_files:
            return (f"⚠️ {len(sources)} files is more than one upload takes ({self.config.upload_max_files}, "
                    "RAG_UPLOAD_MAX_FILES); nothing was indexed. Upload them in smaller groups.",
                    *self.refresh_documents())
        from rag.documents import format_size

        try:
            with tempfile.TemporaryDirectory(prefix=f"{UPLOAD_STAGING_PREFIX}{os.getpid()}-") as tmp:
                copies: dict[str, Path] = {}
                refused: list[tuple[str, str]] = []
                for path, name in sources:
                    if name in copies:  # one doc_id per name: the first file wins, the rest are reported
                        refused.append((name, "another file in this upload has the same name"))
                        continue
                    target = Path(tmp) / name  # name is one safe component (_upload_path)
                    try:
                        if target.resolve().parent != Path(tmp).resolve():
                            raise OSError(f"the name {name!r} is not a file name")
                        if os.path.getsize(path) > self.config.upload_max_bytes:
                            refused.append((name, f"larger than {format_size(self.config.upload_max_bytes)} "
                                                  "(RAG_UPLOAD_MAX_BYTES)"))
                            continue
                        shutil.copyfile(path, target)
                    except OSError as exc:  # this file only: the others are still indexed
                        log.warning("saving the upload %r failed: %s", name, exc)
                        refused.append((name, f"could not be saved ({exc.strerror or exc})"))
                        continue
                    copies[name] = target
                progress((0, len(copies)), desc="Indexing", unit="files")

                def on_progress(done: int, total: int, name: str) -> None:
                    progress((done, total), desc=f"Indexed {name}", unit="files")

                from rag.indexing import ingest_paths

                report = ingest_paths(sorted(copies.values()), config=self.config, store=self.store(),
                                      embedder=self.embedder(), progress=on_progress,
                                      sources={target: f"upload:{name}" for name, target in copies.items()})
                report.skipped = refused + [(Path(file).name, _skip_reason(file, reason, tmp))
                                               for file, reason in report.skipped]
        except Exception as exc:
            log.exception("ingesting uploads failed")
            from rag.resources import describe_index_error

            message = describe_index_error(exc, config=self.config) or (
                str(exc) if isinstance(exc, ValueError) else "see the server log for details")
            return (f"⚠️ Indexing failed: {message}", *self.refresh_documents())
        lines = [f"**{report.summary()}**"]
        lines += [f"- skipped {name}: {reason}" for name, reason in report.skipped]
        lines += [f"- {line}" for line in report.decoded_lines(lambda file: Path(file).name)]
        return ("\n".join(lines), *self.refresh_documents())

    def delete_document(self, doc_id: str | None) -> tuple[str, dict, Any, str]:
        """Remove a document: (result line, table, dropdown, summary)."""
        if not doc_id:
            return ("Choose a document to delete first.", *self.refresh_documents())
        try:
            removed = self.store().delete_document(doc_id)
        except Exception:
            log.exception("deleting %s failed", doc_id)
            return (f"⚠️ Deleting {doc_id} failed; see the server log.", *self.refresh_documents())
        if removed:
            message = f"Deleted **{doc_id}** ({removed} chunk{'s' if removed != 1 else ''})."
        else:
            message = f"No document {doc_id!r} in the index."
        return (message, *self.refresh_documents())


def remove_stale_uploads(folder: str | None = None) -> int:
    """Remove the staging folders of uploads whose UI process is gone (killed while it
    indexed them: a SIGKILL skips the TemporaryDirectory cleanup, and each left copies of
    every uploaded file in TMPDIR). A folder is ``rag-upload-<pid>-*``; those of a
    running process are kept. Returns how many were removed."""
    folder = folder or tempfile.gettempdir()
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        if not entry.name.startswith(UPLOAD_STAGING_PREFIX) or not entry.is_dir(follow_symlinks=False):
            continue
        pid = entry.name[len(UPLOAD_STAGING_PREFIX):].partition("-")[0]
        if not pid.isdigit() or int(pid) == os.getpid() or _process_alive(int(pid)):
            continue
        try:
            if os.stat(entry.path, follow_symlinks=False).st_uid != os.getuid():
                continue  # another user's UI: not ours to remove
        except OSError:
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        removed += 1
    if removed:
        log.info("removed %d upload staging folder(s) left by a UI that was killed", removed)
    return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, another user's
        return True
    return True


def _skip_reason(file: str, reason: str, folder: str) -> str:
    """Why a file was skipped, without its temporary path (the line names the file)."""
    reason = reason.replace(str(Path(folder)) + os.sep, "")
    return reason.removeprefix(f"{Path(file).name}: ")


def _upload_path(item) -> tuple[str, str] | None:
    """(temporary path, original file name) of one gr.File value."""
    if item is None:
        return None
    if isinstance(item, (str, Path)):
        path, name = str(item), None
    elif isinstance(item, dict):
        path, name = item.get("path") or item.get("name"), item.get("orig_name")
    else:
        path = getattr(item, "path", None) or getattr(item, "name", None)
        name = getattr(item, "orig_name", None)
    if not path:
        return None
    from rag.documents import upload_name

    return str(path), upload_name(name or Path(path).name)


# -- sources of earlier answers -----------------------------------------------------------
# The panel shows the latest answer's sources; each answer's are kept in a gr.State
# (assistant message index -> sources HTML) so clicking an earlier answer shows its own.
def remember_sources(remembered: dict | None, messages: list, sources: str) -> dict:
    """``remembered`` plus the sources of the last message, when it is an answer."""
    remembered = dict(remembered or {})
    if messages and _role(messages[-1]) == "assistant" and not is_error_message(messages[-1]):
        remembered[len(messages) - 1] = sources
    return remembered


def sources_of_message(remembered: dict | None, index) -> str | None:
    """The sources of the clicked answer, or of the answer to the clicked question."""
    if isinstance(index, (list, tuple)):
        index = index[0] if index else None
    if not isinstance(index, int):
        return None
    remembered = remembered or {}
    return remembered.get(index, remembered.get(index + 1))


def chat_remembering_sources(ui: "RagUI", question: str, history: list | None, top_k, backend,
                             remembered: dict | None):
    """``ui.chat``'s updates, each sent at once and once, with the remembered sources as a
    fourth output (the answer's entry shows its progress until the final sources)."""
    for messages, sources, box in ui.chat(question, history, top_k, backend):
        yield messages, sources, box, remember_sources(remembered, messages, sources)


# -- the Blocks app --------------------------------------------------------------------
def build_app(config: RAGConfig | None = None, *, store=None, embedder=None, llm=None,
              ui: RagUI | None = None) -> gr.Blocks:
    """The Gradio app; the handlers object is ``app.rag_ui``."""
    ui = ui or RagUI(config, store=store, embedder=embedder, llm=llm)
    config = ui.config
    openai_info = f"openai: {config.openai_model} at {config.openai_base_url or 'api.openai.com'}"

    with gr.Blocks(title="News Q&A") as demo:
        gr.Markdown("## News Q&A\nAsk about the indexed news articles in any language; "
                    "answers cite the passages they come from.")
        with gr.Tabs():
            with gr.Tab("Chat", id="chat-tab"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3):
                        chatbot = gr.Chatbot(label="Conversation", elem_id="chatbot", height=520,
                                             feedback_options=None, buttons=["copy"],
                                             group_consecutive_messages=False,
                                             placeholder="Ask a question about the articles.")
                        with gr.Row():
                            question = gr.Textbox(show_label=False, elem_id="question", scale=5, lines=1,
                                                  max_lines=4, autofocus=True,
                                                  placeholder="Ask a question (Enter to send)")
                            send = gr.Button("Send", variant="primary", elem_id="send", scale=1, min_width=80)
                        with gr.Row():
                            clear = gr.Button("New conversation", elem_id="clear", size="sm")
                        gr.Examples(EXAMPLES, inputs=[question], label="Examples")
                        with gr.Accordion("Settings", open=False, elem_id="settings"):
                            top_k = gr.Slider(1, MAX_PASSAGES, value=min(max(config.top_k, 1), MAX_PASSAGES),
                                              step=1, label="Passages given to the model", elem_id="top-k")
                            backend = gr.Radio(BACKENDS, value=config.llm, label="LLM backend", elem_id="backend",
                                               info=f"local: the bundled Qwen 1.5B · {openai_info} · "
                                                    "extractive: quotes the best sentences, no model")
                    with gr.Column(scale=2):
                        sources = gr.HTML(SOURCES_EMPTY, elem_id="sources", label="Sources")
            with gr.Tab("Documents", id="documents-tab"):
                doc_summary = gr.Markdown(elem_id="documents-summary")
                documents = gr.Dataframe(headers=DOCUMENT_HEADERS, interactive=False, elem_id="documents",
                                         wrap=True, column_widths=["28%", "50%", "10%", "12%"])
                with gr.Row():
                    with gr.Column():
                        uploads = gr.File(label="Add articles (.txt, .md, .html)", file_count="multiple",
                                          file_types=UPLOAD_TYPES, elem_id="upload")
                        ingest_button = gr.Button("Index the files", variant="primary", elem_id="ingest")
                        ingest_result = gr.Markdown(elem_id="ingest-result")
                    with gr.Column():
                        delete_choice = gr.Dropdown(choices=[], value=None, label="Document to delete",
                                                    elem_id="delete-doc", allow_custom_value=False)
                        delete_button = gr.Button("Delete", variant="stop", elem_id="delete")
                        delete_result = gr.Markdown(elem_id="delete-result")

        answer_sources = gr.State({})

        def chat(question_, history, top_k_, backend_, remembered):
            yield from chat_remembering_sources(ui, question_, history, top_k_, backend_, remembered)

        def show_sources(remembered, evt: gr.SelectData):
            return sources_of_message(remembered, evt.index) or gr.skip()

        # Two queues: questions one at a time (one llama.cpp context), and index changes
        # (uploads, deletes) one at a time beside them, so a question asked during an
        # upload does not wait for it (the store and embedder take two threads:
        # rag/store.py, rag/embeddings.py).
        chat_io = dict(fn=chat, inputs=[question, chatbot, top_k, backend, answer_sources],
                       outputs=[chatbot, sources, question, answer_sources], concurrency_id=CHAT_QUEUE,
                       concurrency_limit=1)
        send.click(api_name="chat", **chat_io)
        question.submit(api_visibility="private", **chat_io)
        clear.click(lambda: (*ui.clear_chat(), {}), outputs=[chatbot, sources, question, answer_sources],
                    api_visibility="private")
        chatbot.clear(lambda: (SOURCES_EMPTY, {}), outputs=[sources, answer_sources], api_visibility="private")
        chatbot.select(show_sources, inputs=[answer_sources], outputs=[sources], api_visibility="private")

        doc_outputs = [documents, delete_choice, doc_summary]
        ingest_button.click(ui.ingest_files, inputs=[uploads], outputs=[ingest_result, *doc_outputs],
                            api_name="ingest", concurrency_id=INDEX_QUEUE, concurrency_limit=1
                            ).then(lambda: None, outputs=[uploads], api_visibility="private")
        delete_button.click(ui.delete_document, inputs=[delete_choice], outputs=[delete_result, *doc_outputs],
                            api_name="delete", concurrency_id=INDEX_QUEUE, concurrency_limit=1)
        demo.load(ui.refresh_documents, outputs=doc_outputs, api_visibility="private")

    demo.rag_ui = ui
    return demo


def launch(demo: gr.Blocks, *, host: str = "127.0.0.1", port: int | None = 7860, **kwargs):
    """Start the app with the UI's CSS (Gradio 6 takes it at launch)."""
    demo.queue(default_concurrency_limit=1)
    config = demo.rag_ui.config
    options = dict(server_name=host, server_port=port, css=CSS, show_error=False,
                   max_file_size=config.upload_max_bytes, ssr_mode=False, footer_links=["api", "gradio"])
    if config.ui_user and config.ui_password:
        options["auth"] = (config.ui_user, config.ui_password)
    elif not is_loopback(host):
        print(f"warning: binding {host} without a login: anyone who can reach this port can read the "
              "articles and change the index. Set RAG_UI_USER and RAG_UI_PASSWORD.", file=sys.stderr, flush=True)
    options.update(kwargs)
    return demo.launch(**options)


def ensure_indexed(ui: RagUI, *, out=sys.stdout) -> None:
    """Index seeds/ when the collection is empty; bring documents indexed by an older
    version up to date from their files (rag.indexing.ensure_indexed)."""
    from rag.indexing import ensure_indexed as ensure_store_indexed

    ensure_store_indexed(store=ui.store(), embedder=ui.embedder(), config=ui.config, out=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Chat with the indexed news articles in the browser.")
    parser.add_argument("--host", default=os.environ.get("RAG_UI_HOST") or "127.0.0.1",
                        help="interface to bind (default 127.0.0.1; env RAG_UI_HOST)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("RAG_UI_PORT") or 7860),
                        help="port (default 7860; env RAG_UI_PORT)")
    parser.add_argument("--no-ingest", action="store_true", help="do not index seeds/ when the index is empty")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    remove_stale_uploads()
    try:
        ui = RagUI(RAGConfig.from_env())
        ui.store()  # load the embedder and open the index now: fail here, not at the first question
        if not args.no_ingest:
            ensure_indexed(ui)
    except Exception as exc:  # one clear line, not a traceback
        from rag.resources import describe_index_error

        cause = describe_index_error(exc, config=ui.config) if "ui" in locals() else None
        print(f"error: {cause or exc}", file=sys.stderr)
        return 2
    ui.load_model()
    # The language detector and the model's reading of the system prompt happen while the
    # page opens, not at the first question.
    threading.Thread(target=ui.warm_up, name="warm-up", daemon=True).start()
    demo = build_app(ui=ui)
    print(f"Chat UI on http://{args.host}:{args.port}", flush=True)
    launch(demo, host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
