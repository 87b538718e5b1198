"""The robustness suite: bad input, access, crash safety, injection, load and faults
(issue 22, docs/robustness.md). ``python -m eval.robustness`` runs it and prints a table;
tests/test_robustness.py runs capped versions in CI."""


def free_port() -> int:
    """A free TCP port on 127.0.0.1 for a server the suite starts."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
