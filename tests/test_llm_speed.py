"""eval/llm_speed.py with a fake llama: what it times and counts, no model loaded."""

from __future__ import annotations

from eval.llm_speed import measure_prompt

TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
            "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


class FakeLlama:
    """Characters as tokens; writes ``reply`` then the end token."""

    metadata = {"tokenizer.chat_template": TEMPLATE}

    def __init__(self, reply: str) -> None:
        self.reply, self.evaluated, self.resets, self._written = reply, [], 0, 0

    def tokenize(self, text: bytes, add_bos: bool = False, special: bool = False) -> list[int]:
        return list(text.decode("utf-8"))

    def reset(self) -> None:
        self.resets += 1
        self._written = 0

    def eval(self, tokens) -> None:
        self.evaluated.append(len(tokens))

    def token_eos(self) -> str:
        return "<eos>"

    def sample(self, temp: float) -> str:
        assert temp == 0.0  # greedy, as the app asks
        token = self.reply[self._written] if self._written < len(self.reply) else "<eos>"
        self._written += 1
        return token


def test_measure_prompt_times_the_whole_prompt_the_part_after_the_system_prompt_and_the_writing():
    llama = FakeLlama("Nine.")
    messages = [{"role": "system", "content": "S" * 50}, {"role": "user", "content": "Q" * 20}]
    run = measure_prompt(llama, messages, write_tokens=48)
    whole = len("".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
                + "<|im_start|>assistant\n")
    assert run["prompt_tokens"] == whole
    # The system turn is the cached part; the question's part is the rest.
    assert run["question_tokens"] == whole - len("<|im_start|>system\n" + "S" * 50 + "<|im_end|>\n<|im_start|>")
    assert llama.evaluated[:3] == [whole - run["question_tokens"], run["question_tokens"], whole]
    assert run["written"] == len("Nine.")  # stops at the end token, not at write_tokens
