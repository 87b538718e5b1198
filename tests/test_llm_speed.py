"""eval/llm_speed.py with a fake llama: what it times and counts, no model loaded."""

from __future__ import annotations

from eval.llm_speed import chat_format, measure_prompt

TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
            "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
# Not ChatML: its turns end with the model's own end token and it starts with its start token.
INST_TEMPLATE = ("{{ bos_token }}{% for m in messages %}[{{ m['role'] | upper }}] {{ m['content'] }}{{ eos_token }}"
                 "{% endfor %}{% if add_generation_prompt %}[ASSISTANT] {% endif %}")
MESSAGES = [{"role": "system", "content": "S" * 50}, {"role": "user", "content": "Q" * 20}]


class FakeLlama:
    """Characters as tokens, "<s>" and "</s>" its start and end tokens; writes ``reply``
    then the end token. Records the text of each evaluation."""

    def __init__(self, reply: str, template: str | None = TEMPLATE) -> None:
        self.metadata = {"tokenizer.chat_template": template} if template else {}
        self.reply, self.read, self.resets, self._written = reply, [], 0, 0

    def tokenize(self, text: bytes, add_bos: bool = False, special: bool = False) -> list[str]:
        return ([self.token_bos()] if add_bos else []) + list(text.decode("utf-8"))

    def detokenize(self, tokens, special: bool = False) -> bytes:
        return "".join(tokens).encode("utf-8")

    def reset(self) -> None:
        self.resets += 1
        self._written = 0

    def eval(self, tokens) -> None:
        self.read.append("".join(tokens))

    def token_bos(self) -> str:
        return "<s>"

    def token_eos(self) -> str:
        return "</s>"

    def sample(self, temp: float) -> str:
        assert temp == 0.0  # greedy, as the app asks
        token = self.reply[self._written] if self._written < len(self.reply) else self.token_eos()
        self._written += 1
        return token


def test_measure_prompt_times_the_whole_prompt_the_part_after_the_system_prompt_and_the_writing():
    llama = FakeLlama("Nine.")
    formatter, _ = chat_format(llama)
    run = measure_prompt(llama, MESSAGES, formatter=formatter, write_tokens=48)
    whole = len("".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in MESSAGES)
                + "<|im_start|>assistant\n")
    assert run["prompt_tokens"] == whole
    # The system turn is the cached part; the question's part is the rest.
    assert run["question_tokens"] == whole - len("<|im_start|>system\n" + "S" * 50 + "<|im_end|>\n<|im_start|>")
    assert [len(text) for text in llama.read[:3]] == [whole - run["question_tokens"], run["question_tokens"], whole]
    assert run["written"] == len("Nine.")  # stops at the end token, not at write_tokens


def test_the_prompt_is_the_models_own_template_with_its_own_start_and_end_tokens():
    llama = FakeLlama("Nine.", template=INST_TEMPLATE)
    formatter, used = chat_format(llama)
    run = measure_prompt(llama, MESSAGES, formatter=formatter, write_tokens=48)
    whole = "<s>[SYSTEM] " + "S" * 50 + "</s>[USER] " + "Q" * 20 + "</s>[ASSISTANT] "
    assert llama.read[2] == whole and run["prompt_tokens"] == len(whole)  # the whole prompt, no ChatML token
    assert llama.read[0] == "<s>[SYSTEM] " + "S" * 50 + "</s>["  # the cached part: the system turn
    assert used == "the model's (GGUF tokenizer.chat_template)"


def test_a_model_without_a_template_gets_chatml_and_says_so():
    llama = FakeLlama("Nine.", template=None)
    formatter, used = chat_format(llama)
    measure_prompt(llama, MESSAGES, formatter=formatter, write_tokens=48)
    # ChatML's formatter writes no start token, so the tokenizer adds the model's.
    assert llama.read[2] == ("<s>" + "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in MESSAGES)
                             + "<|im_start|>assistant\n")
    assert used.startswith("chatml") and "no chat template" in used
