"""The sentence-transformers backend, offline, on a tiny model this test builds itself."""

import numpy as np
import pytest

from rag.config import RAGConfig
from rag.embeddings import get_embedder


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("sentence_transformers")
    import torch

    folder = tmp_path_factory.mktemp("tiny-st")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("abcdefghijklmnopqrstuvwxyz") + ["apple", "meta", "##s"]
    (folder / "vocab.txt").write_text("\n".join(vocab), encoding="utf-8")
    tokenizer = transformers.BertTokenizerFast(vocab_file=str(folder / "vocab.txt"))
    torch.manual_seed(0)
    bert = transformers.BertModel(transformers.BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=64))
    # A plain BERT folder: sentence-transformers wraps it with mean pooling itself.
    bert.save_pretrained(folder / "model")
    tokenizer.save_pretrained(folder / "model")
    return folder / "model"


def test_sentence_transformers_backend_offline(tiny_model_dir, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    embedder = get_embedder(config=RAGConfig(embedder=f"st:{tiny_model_dir}", query_prefix="", passage_prefix=""))
    assert embedder.name == f"st:{tiny_model_dir}" and embedder.dim == 32
    q = embedder.embed_queries(["apple meta"])
    p = embedder.embed_passages(["apple", "meta", "zzz"])
    assert q.shape == (1, 32) and p.shape == (3, 32)
    assert np.allclose(np.linalg.norm(p, axis=1), 1.0, atol=1e-5)
    assert embedder.count_tokens("apple meta apple") == 3
    assert embedder.embed_passages([]).shape == (0, 32)


def test_unknown_embedder_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown embedder"):
        get_embedder(config=RAGConfig(embedder="word2vec"))


def test_sentence_transformers_calls_run_one_at_a_time(monkeypatch):
    # transformers sets truncation and padding on the one Rust tokenizer per call: from two
    # threads (a question beside an upload in the UI) a count ran truncated (128 of 400
    # tokens) and a batch untruncated. The embedder lets one call in at a time.
    import threading
    import time

    import sentence_transformers

    active, overlaps = [0], []

    def one_at_a_time(result):
        active[0] += 1
        overlaps.append(active[0])
        time.sleep(0.01)
        active[0] -= 1
        return result

    class Model:
        def __init__(self, name, device):
            self.tokenizer = lambda text, add_special_tokens: one_at_a_time({"input_ids": text.split()})

        def get_embedding_dimension(self):
            return 2

        def encode(self, texts, **kwargs):
            return one_at_a_time(np.ones((len(texts), 2)) / np.sqrt(2))

    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", Model)
    from rag.embeddings import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder("fake")
    calls = [lambda: embedder.embed_passages(["a b"]), lambda: embedder.count_tokens("a b c"),
             lambda: embedder.embed_queries(["a"])] * 4
    threads = [threading.Thread(target=call) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(overlaps) == len(calls) and max(overlaps) == 1
