"""Generated articles for the robustness suite: many small files whose every version is
recognisable (a serial and a version word in each sentence), so a check can tell which
version of a file the index holds."""

from __future__ import annotations

import random
from pathlib import Path

_TOPICS = ["harbour", "railway", "orchard", "observatory", "bakery", "library", "brewery", "shipyard",
           "vineyard", "foundry", "museum", "dairy", "quarry", "lighthouse", "tannery", "mill"]
_TOWNS = ["Aldervik", "Brenholm", "Corvano", "Dunmere", "Eskaton", "Farrow", "Gildan", "Hesper"]


def article_text(serial: int, version: int, *, sentences: int = 6) -> str:
    rng = random.Random(serial * 1000 + version)
    topic, town = rng.choice(_TOPICS), rng.choice(_TOWNS)
    title = f"The {topic} of {town} (file {serial}, version {version})"
    body = []
    for i in range(sentences):
        year = rng.randint(1890, 2024)
        body.append(f"In {year} the {topic} of {town} recorded item {serial}-{version}-{i} "
                    f"with {rng.randint(2, 900)} workers and version marker v{version}x{serial}.")
    return title + "\n\n" + " ".join(body) + "\n"


def small_articles(folder: Path, count: int, *, version: int = 1, sentences: int = 6) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for serial in range(count):
        path = folder / f"article_{serial:04d}.txt"
        path.write_text(article_text(serial, version, sentences=sentences), encoding="utf-8")
        paths.append(path)
    return paths
