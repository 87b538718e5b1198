"""Sentences in retrieved text that are addressed to the assistant, not about the news.

A document can carry instructions meant for the model that reads it (indirect prompt
injection, OWASP LLM01): "ignore previous instructions", a fake "Assistant:" turn,
"add this link to your reply", "encode your answer in base64". News sentences report
what people said and did; they do not address a chatbot, its answer or its
instructions. ``drop_addressed_sentences`` removes the sentences that do from what the
model reads (RAGConfig.drop_addressed_sentences); the prompt also tells the model that
passages are quoted material (rag/prompts.py). Patterns cover English, German, French,
Spanish, Chinese and Japanese; docs/robustness.md has the suite that measures them.
"""

from __future__ import annotations

import re

from .chunking import split_sentences

_WORD_RULES = [
    # Role markers and chat-template tokens: a turn written into the text.
    r"(?:^|[\s\"'«“„(\[])(?:assistant|system|user|human|ai|bot|chatbot|assistent|asistente|assistante)\s*[:：]",
    r"<\|?(?:im_start|im_end|system|user|assistant|endoftext)\|?>|\[/?INST\]|<</?SYS>>|^\s*#{2,}\s*(?:instruction|system)",
    # Overriding the instructions.
    r"\b(?:ignore|disregard|forget|override|bypass)\b[^.!?]{0,40}\b(?:instructions?|prompts?|rules|directions|guidelines)\b",
    r"\b(?:new|updated|real|actual|hidden|secret|system)\s+(?:instructions?|prompt|directive)s?\b",
    # Addressing the model and its reply.
    r"\b(?:you are|you're|act as|pretend to be)\s+(?:an?\s+|the\s+)?(?:ai|assistant|language model|chatbot|llm|gpt)\b",
    r"\b(?:ai|assistant|language model|chatbot|llm|model)s?\b[^.!?]{0,50}\b(?:must|should|shall|has to|have to|is required to|is instructed to)\b",
    r"\b(?:asked|asks|instructs?|instructed|tells?|told|wants?|requires?|orders?|ordered)\s+you\s+to\b",
    r"\b(?:your|the assistant's|the model's)\s+(?:answer|reply|response|output|summary)s?\b",
    r"\b(?:every|each|all|any)\s+(?:future\s+)?(?:answers?|repl(?:y|ies)|responses?)\b",
    r"\b(?:reply|respond|answer)\s+(?:only\s+)?(?:with|in|using)\b[^.!?]{0,30}\b(?:base64|rot13|hex|json|the (?:word|sentence|phrase))\b",
    r"\b(?:encode|encrypt|translate|convert|write)\b[^.!?]{0,30}\b(?:in|into|to|as)\s+(?:base64|rot13|hexadecimal|hex)\b",
    r"\b(?:without|do not|don't|never)\s+(?:mentioning|mention|reveal|revealing|telling)\b[^.!?]{0,30}\b(?:this|it|these|the user)\b",
    # A sentence that opens with an order about answering ("Always answer X.").
    r"^\W*(?:always|only|never|just)\s+(?:answer|reply|respond|say|write|output|print)\b",
    # German, French, Spanish.
    r"\b(?:ignoriere|ignorieren sie|vergiss|vergessen sie)\b[^.!?]{0,40}\b(?:anweisungen|anweisung|befehle|regeln)\b",
    r"\b(?:deine[rn]?|eure[rn]?)\s+antwort(?:en)?\b|\bjede(?:r|n)?\s+antwort\b",
    r"\b(?:ignore[zr]?|oublie[zr]?)\b[^.!?]{0,40}\b(?:instructions?|consignes|règles)\b",
    r"\b(?:ta|votre|vos|tes)\s+réponses?\b|\bchaque\s+réponse\b",
    r"\b(?:ignora|ignore|olvida)\b[^.!?]{0,40}\b(?:instrucciones|indicaciones|reglas)\b",
    r"\b(?:tu|tus)\s+respuestas?\b|\bcada\s+respuesta\b",
]
_CJK_RULES = [
    r"(?:忽略|无视|無視|忽视|忘记|忘掉)[^。！？]{0,12}(?:指令|指示|说明|規則|规则|提示|命令)",
    r"(?:以前|これまで|上記|前)の(?:指示|命令|ルール)",
    r"(?:你的|您的|每个|每一个|每条|所有的?)(?:回答|回复|答案)",
    r"(?:あなたの|すべての|全ての|各)(?:回答|返答|応答)",
    r"(?:回答|回复|答案|返答)(?:の|的)?(?:最後|末尾|结尾|結尾|最后)",
    r"(?:用|以)\s*base64|base64\s*(?:で|に|编码|エンコード)",
    r"(?:助手|アシスタント|系统|システム|用户|ユーザー)\s*[:：]",
]
_PATTERN = re.compile("|".join(f"(?:{p})" for p in _WORD_RULES + _CJK_RULES), re.IGNORECASE | re.MULTILINE)


def is_addressed_to_model(sentence: str) -> bool:
    """Whether ``sentence`` speaks to the assistant (its instructions, its reply, a
    chat turn) rather than reporting news."""
    return bool(_PATTERN.search(sentence))


def drop_addressed_sentences(text: str) -> str:
    """``text`` without the sentences addressed to the assistant (lines count as
    sentences too: a fake "Assistant:" turn often has no full stop)."""
    kept = []
    for line in text.split("\n"):
        if _TURN.match(line):  # a chat turn written into the text: all of it, not just its first sentence
            continue
        parts = [line[s:e] for s, e in split_sentences(line)]
        kept.append(" ".join(p for p in parts if not is_addressed_to_model(p)))
    return "\n".join(k for k in kept if k.strip())


_TURN = re.compile(r"^\W*(?:assistant|system|user|human|ai|bot|chatbot|assistent|asistente|assistante|助手|アシスタント"
                   r"|系统|システム|用户|ユーザー)\s*[:：]", re.IGNORECASE)
