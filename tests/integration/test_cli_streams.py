"""Each ``main()`` call writes to the streams it was given: two calls in one process never interfere."""

from __future__ import annotations

import io
import threading

from lookalike.cli import main

RUNS = 25


def test_two_calls_with_different_streams_in_threads_keep_their_output_apart() -> None:
    # one thread asks for help (stdout, exit 0), the other makes a usage error (stderr, exit 2), many
    # times, interleaved: every stream holds exactly what its own call wrote
    results: dict[str, list[tuple[int, str, str]]] = {"help": [], "usage": []}
    start = threading.Barrier(2)

    def run(kind: str, argv: list[str]) -> None:
        start.wait()
        for _ in range(RUNS):
            out, err = io.StringIO(), io.StringIO()
            code = main(argv, stdout=out, stderr=err)
            results[kind].append((code, out.getvalue(), err.getvalue()))

    threads = [threading.Thread(target=run, args=("help", ["compare", "--help"])),
               threading.Thread(target=run, args=("usage", ["compare", "--metric"]))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(results["help"]) == len(results["usage"]) == RUNS
    for code, out, err in results["help"]:
        assert code == 0 and out.startswith("usage: lookalike compare") and err == ""
    for code, out, err in results["usage"]:
        assert code == 2 and out == ""
        assert err.startswith("usage: lookalike compare")
        assert "error: argument --metric/-m: expected one argument" in err


def test_a_parser_keeps_its_streams_after_another_call() -> None:
    from lookalike.cli._main import build_parser

    mine = io.StringIO()
    parser = build_parser(stdout=mine)
    other = io.StringIO()
    assert main(["--help"], stdout=other, stderr=io.StringIO()) == 0
    try:
        parser.parse_args(["--help"])
    except SystemExit as exc:
        assert exc.code == 0
    assert mine.getvalue().startswith("usage: lookalike") and mine.getvalue() == other.getvalue()
