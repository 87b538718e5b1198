"""The robustness suite: bad input, access, crash safety, injection, load and faults
(issue 22, docs/robustness.md). ``python -m eval.robustness`` runs it and prints a table;
tests/test_robustness.py runs capped versions in CI."""
