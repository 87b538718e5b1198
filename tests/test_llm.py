import hashlib

import pytest

from rag.config import RAGConfig
from rag.llm import LLMError, assemble_packaged_model, local_model_path


def _parts(tmp_path, blobs):
    paths = []
    for i, blob in enumerate(blobs, start=1):
        path = tmp_path / f"part{i:02d}.bin"
        path.write_bytes(blob)
        paths.append(path)
    return paths


def test_assembles_verifies_and_caches(tmp_path):
    blobs = [b"GGUF" + bytes(range(50)), b"second" * 100, b"third"]
    whole = b"".join(blobs)
    parts = _parts(tmp_path, blobs)
    cache = tmp_path / "cache"
    kwargs = dict(parts=parts, expected_size=len(whole), expected_sha256=hashlib.sha256(whole).hexdigest(),
                  file_name="m.gguf")
    path = assemble_packaged_model(cache, **kwargs)
    assert path.read_bytes() == whole
    assert (cache / "m.gguf.verified").is_file()
    # Second call trusts the marker and does not read the parts again.
    for part in parts:
        part.unlink()
    assert assemble_packaged_model(cache, **kwargs) == path


def test_corrupt_parts_leave_no_file(tmp_path):
    parts = _parts(tmp_path, [b"aaaa", b"bbbb"])
    cache = tmp_path / "cache"
    with pytest.raises(LLMError, match="corrupt"):
        assemble_packaged_model(cache, parts=parts, expected_size=8, expected_sha256="0" * 64, file_name="m.gguf")
    assert list(cache.iterdir()) == []


def test_missing_model_path_is_clear(tmp_path):
    with pytest.raises(LLMError, match="does not exist"):
        local_model_path(config=RAGConfig(model_path=tmp_path / "nope.gguf"))


def test_llama_avoid_bans_the_first_token_of_each_word():
    from rag.llm import LlamaCppChat

    class Tokenizer:  # "NOT" -> [7], " NOT" -> [8, 9], "NO" -> [7, 1], " NO" -> [3]
        table = {b"NOT": [7], b" NOT": [8, 9], b"NO": [7, 1], b" NO": [3]}

        def tokenize(self, text, add_bos, special):
            return self.table[text]

    chat = LlamaCppChat.__new__(LlamaCppChat)  # no model file: only the tokenizer is used
    chat._llama = Tokenizer()
    assert chat._ban(["NOT", "NO"]) == {7: -100.0, 8: -100.0, 3: -100.0}
    assert chat._ban([]) == {}


def test_loaded_models_are_closed_at_exit_unless_still_generating():
    import threading

    from rag import llm as llm_module
    from rag.llm import LlamaCppChat

    class FakeLlama:
        closed = 0

        def close(self):
            self.closed += 1

    def loaded() -> LlamaCppChat:
        chat = LlamaCppChat.__new__(LlamaCppChat)  # no model file
        chat._llama, chat._lock = FakeLlama(), threading.Lock()
        llm_module._open_models.add(chat)
        return chat

    idle, busy = loaded(), loaded()
    busy._lock.acquire()  # a generation in another thread
    try:
        llm_module._close_open_models()  # what atexit runs
    finally:
        busy._lock.release()
    assert idle._llama.closed == 1 and busy._llama.closed == 0
    idle.close()  # closing again is harmless
    assert idle._llama.closed == 2
