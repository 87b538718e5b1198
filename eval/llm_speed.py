"""python -m eval.llm_speed [--split S] [--n N] [--json R]: how fast the local model reads and writes.

Builds the answering prompts the pipeline sends for the first N questions of a gold
split (eval.evidence.first_answering_prompts, with a stand-in model), then runs the
packaged GGUF on each through llama-cpp-python: prompt reading (the whole prompt, KV
cache cleared: tokens/s), the part after the system prompt with the system prompt cached
(what a question costs the app before its first token), the first token through the
app's own streaming call, and greedy writing (tokens/s). The prompts are written in the
model's own chat template (chat_format; ChatML only for a model without one). Prints one
JSON line with the figures, the chat format used and the CPU features llama.cpp was built
with, so two builds (or two machines) can be compared on the same prompts. Not a test: it
prints figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

from rag.config import REPO_ROOT, RAGConfig


def chat_format(llama) -> tuple[Callable, str]:
    """The model's own chat format and its name for the output: the GGUF's
    ``tokenizer.chat_template`` with the model's own end and start tokens, as
    llama-cpp-python formats the app's chat calls with it; ChatML (llama-cpp-python's)
    only when the model has no template."""
    from llama_cpp import llama_chat_format

    template = llama.metadata.get("tokenizer.chat_template")
    if not template:
        return llama_chat_format.format_chatml, "chatml (the model has no chat template)"
    formatter = llama_chat_format.Jinja2ChatFormatter(
        template=template, eos_token=_token_text(llama, llama.token_eos()),
        bos_token=_token_text(llama, llama.token_bos()),
    )
    return formatter, "the model's (GGUF tokenizer.chat_template)"


def _token_text(llama, token: int) -> str:
    """A special token's text ("" for none, -1), as the template writes it."""
    return llama.detokenize([token], special=True).decode("utf-8", errors="replace") if token != -1 else ""


def _chat_tokens(llama, formatter: Callable, messages: list[dict]) -> list[int]:
    """The prompt's tokens as llama-cpp-python's chat handler makes them: a formatter that
    wrote the start token itself (a template) gets none added."""
    formatted = formatter(messages=messages)
    return llama.tokenize(formatted.prompt.encode("utf-8"), add_bos=not formatted.added_special, special=True)


def _common_prefix_len(a: list[int], b: list[int]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def measure_prompt(llama, messages: list[dict], *, formatter: Callable, write_tokens: int) -> dict:
    """Reading the whole prompt (in ``formatter``'s chat format, chat_format) from an empty
    cache; reading its part after the system prompt with the system prompt cached (what a
    question costs in the app); then writing greedily."""
    tokens = _chat_tokens(llama, formatter, messages)
    cached = _common_prefix_len(tokens, _chat_tokens(llama, formatter, messages[:1]))
    llama.reset()
    llama.eval(tokens[:cached])
    t0 = time.perf_counter()
    llama.eval(tokens[cached:])
    question_read_s = time.perf_counter() - t0
    llama.reset()
    t0 = time.perf_counter()
    llama.eval(tokens)
    read_s = time.perf_counter() - t0
    written = 0
    t1 = time.perf_counter()
    for _ in range(write_tokens):
        token = llama.sample(temp=0.0)
        if llama.token_eos() == token:
            break
        llama.eval([token])
        written += 1
    write_s = time.perf_counter() - t1
    return {"prompt_tokens": len(tokens), "read_s": read_s, "question_tokens": len(tokens) - cached,
            "question_read_s": question_read_s, "written": written, "write_s": write_s}


def first_token_s(chat, messages: list[dict]) -> float:
    """Seconds to the first streamed piece, as the app asks (system prompt cached)."""
    t0 = time.perf_counter()
    for _ in chat.stream(messages, max_tokens=1, temperature=0.0):
        break
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    from .evidence import first_answering_prompts
    from .gold import load_gold

    parser = argparse.ArgumentParser(prog="python -m eval.llm_speed", description=__doc__.split("\n")[0])
    parser.add_argument("--gold", type=Path, default=REPO_ROOT / "eval" / "gold.jsonl")
    parser.add_argument("--split", default="dev")
    parser.add_argument("--n", type=int, default=12, help="questions (prompts) to time")
    parser.add_argument("--write-tokens", type=int, default=48)
    parser.add_argument("--seeds", type=Path, nargs="+", default=[REPO_ROOT / "seeds"])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    config = RAGConfig.from_env(collection="gold-eval", llm="local")
    items = load_gold(args.gold, split=args.split)[: args.n]
    prompts = [m for m in first_answering_prompts(items, config=config, seeds=args.seeds) if m]
    if not prompts:
        parser.error("no question reached the model (all gated, or --n 0): nothing to time")

    import llama_cpp

    from rag.llm import get_llm

    chat = get_llm(config=config)
    llama = chat._llama
    formatter, format_name = chat_format(llama)
    # Warm-up: the first evaluation maps the weights.
    measure_prompt(llama, prompts[0], formatter=formatter, write_tokens=4)
    runs = [measure_prompt(llama, p, formatter=formatter, write_tokens=args.write_tokens) for p in prompts]
    first_token_s(chat, [prompts[0][0], {"role": "user", "content": "."}])  # only the system prompt cached
    firsts = [first_token_s(chat, p) for p in prompts]
    read_rate = sum(r["prompt_tokens"] for r in runs) / sum(r["read_s"] for r in runs)
    write_rate = sum(r["written"] for r in runs) / sum(r["write_s"] for r in runs)
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "split": args.split, "prompts": len(runs),
        "llama_cpp": llama_cpp.__version__, "system_info": llama_cpp.llama_print_system_info().decode().strip(),
        "threads": llama.n_threads if hasattr(llama, "n_threads") else None, "chat_format": format_name,
        "prompt_tokens_p50": statistics.median(r["prompt_tokens"] for r in runs),
        "read_tokens_per_s": round(read_rate, 1), "write_tokens_per_s": round(write_rate, 1),
        "question_tokens_p50": statistics.median(r["question_tokens"] for r in runs),
        "question_read_p50_s": round(statistics.median(r["question_read_s"] for r in runs), 2),
        "first_token_p50_s": round(statistics.median(firsts), 2),
    }
    print(json.dumps(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({**result, "runs": runs, "first_token_s": firsts}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
