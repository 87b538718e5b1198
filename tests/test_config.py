from pathlib import Path

import pytest

from rag.config import RAGConfig


def test_env_overrides_are_typed():
    config = RAGConfig.from_env({"RAG_TOP_K": "6", "RAG_MIN_SCORE": "0.5", "RAG_DATA_DIR": "/tmp/x",
                                 "RAG_LLM": "extractive", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    assert config.top_k == 6 and config.min_score == 0.5
    assert config.data_dir == Path("/tmp/x") and config.llm == "extractive"
    assert config.openai_base_url == "http://127.0.0.1:9/v1"


def test_bad_values_are_clear_errors():
    with pytest.raises(ValueError, match="RAG_TOP_K"):
        RAGConfig.from_env({"RAG_TOP_K": "many"})
    with pytest.raises(ValueError, match="llm must be"):
        RAGConfig.from_env({"RAG_LLM": "gpt"})
    with pytest.raises(ValueError, match="fixed, probes or off"):
        RAGConfig.from_env({"RAG_GATE_CALIBRATION": "none"})
    assert RAGConfig.from_env({"RAG_GATE_CALIBRATION": "off"}).gate_calibration == "off"


def test_config_is_frozen():
    config = RAGConfig()
    with pytest.raises(Exception):
        config.top_k = 3  # type: ignore[misc]
    assert config.replace(top_k=3).top_k == 3
