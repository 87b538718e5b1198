"""Ask from the terminal: python -m rag "question" [--llm extractive] [--k 4]"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag", description="Answer a question from the indexed articles.")
    parser.add_argument("question", nargs="+")
    parser.add_argument("--llm", choices=["local", "openai", "extractive"], help="generation backend")
    parser.add_argument("--k", type=int, help="passages given to the model")
    parser.add_argument("--no-stream", action="store_true", help="print the answer only when complete")
    args = parser.parse_args(argv)

    from rag.answer import Answer, ask_stream
    from rag.config import RAGConfig

    try:
        overrides = {k: v for k, v in {"llm": args.llm, "top_k": args.k}.items() if v is not None}
        config = RAGConfig.from_env(**overrides)
        answer = None
        streamed = False
        for item in ask_stream(" ".join(args.question), config=config):
            if isinstance(item, Answer):
                answer = item
            elif not args.no_stream and sys.stdout.isatty():
                print(item, end="", flush=True)
                streamed = True
    except Exception as exc:  # one clear line for the terminal
        print(f"\nerror: {exc}", file=sys.stderr)
        return 1
    assert answer is not None
    if streamed:
        print("\n")
    print(answer.text)
    if answer.citations:
        print("\nSources:")
        for c in answer.citations:
            passage = " ".join(c.text.split())
            print(f"  [{c.n}] {c.title} ({c.language}, {c.doc_id}, chars {c.start}-{c.end})")
            print(f"      {passage[:300]}{'…' if len(passage) > 300 else ''}")
    timing = ", ".join(f"{k} {v:.2f}s" for k, v in answer.timings.items())
    print(f"\n({'refused' if answer.refused else answer.backend}; {timing})", file=sys.stderr)
    print(retrieval_note(answer, config), file=sys.stderr)
    return 0


def retrieval_note(answer, config) -> str:
    """The best retrieval score against the gate, so RAG_MIN_SCORE can be calibrated
    for other articles (README, "Calibrating the refusal gate")."""
    # answer.best_score, not a hit's score: with BM25 fused in, hits carry fusion scores.
    from rag.answer import RETRIEVAL_GATE, VERSION_GATE, YEAR_GATE

    best = answer.best_score
    if answer.backend == YEAR_GATE:
        return (f"(refused before the model ran: the question names a year that none of the passages mentions; "
                f"best retrieval score {best:.3f})")
    if answer.backend == VERSION_GATE:
        return (f"(refused before the model ran: the question names a version (\"iPhone 16\") that the passages "
                f"never give that name; best retrieval score {best:.3f})")
    if answer.backend == RETRIEVAL_GATE:
        return f"(refused before the model ran: best retrieval score {best:.3f} < {_threshold(answer, config)})"
    return f"(best retrieval score {best:.3f}; {_threshold(answer, config)})"


def _threshold(answer, config) -> str:
    if config.gate_calibration == "off":
        return "no gate (RAG_GATE_CALIBRATION=off)"
    if config.gate_calibration == "probes":
        return f"the gate's threshold {answer.gate_threshold:.3f} from off-topic probes"
    return f"RAG_MIN_SCORE {config.min_score:g}"


if __name__ == "__main__":
    sys.exit(main())
