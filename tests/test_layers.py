"""The import-layer contract: imports in ``src/lookalike`` point one way, and private modules stay home.

The model is import-linter's "layers" contract, written as a walk over the
AST of every module (imports inside functions and under ``TYPE_CHECKING``
count too: a lazy import is still a dependency). Two rules:

1. **Layers.** A module may import its own subpackage, anything in a lower
   layer, and nothing in a higher one. Subpackages of one layer are
   independent of each other (``features`` does not import ``metrics``,
   ``cli`` does not import ``web``). From the bottom up::

       errors, _version, _json       the error types, the version, JSON-ready numbers
       color | parallel              small top-level helpers
       engines                       executors beyond local processes (Ray)
       io                            decode images, list and sniff files
       features | metrics            one image's features; pairwise numbers
       matching                      verify two sets of keypoints, score a pair
       index                         store, ingest and search vectors and hashes
       pipelines                     the jobs users run
       viz | report                  pictures and pages of results
       cli | web | lookalike         presentation and the top-level facade
       demo                          the tour of every command (runs the CLI)

2. **Private modules.** ``lookalike.x._y`` (or a private name ``_z`` of
   ``lookalike.x``) is imported only from inside ``lookalike.x``. Other
   packages use the names ``lookalike.x`` exports. The benchmarks use the
   public API only: no private module or name of lookalike at all.

A new top-level module or subpackage must be placed in ``LAYERS`` (the test
says so), which keeps the map honest. ``python tests/test_layers.py`` prints
the violations and exits 1 when there are any; ``make lint`` runs it.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import NamedTuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
BENCHMARKS = ROOT / "benchmarks"

#: Bottom first. A set is one layer of mutually independent top-level parts of ``lookalike``
#: (the root package's ``__init__`` is ``"lookalike"``, the facade at the top).
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"errors", "_version", "_json"}),
    frozenset({"color", "parallel"}),
    frozenset({"engines"}),
    frozenset({"io"}),
    frozenset({"features", "metrics"}),
    frozenset({"matching"}),
    frozenset({"index"}),
    frozenset({"pipelines"}),
    frozenset({"viz", "report"}),
    frozenset({"cli", "web", "lookalike"}),
    frozenset({"demo"}),
)

#: Permitted imports between siblings of one layer: (importing module, imported module), each one edge, not a
#: whole package. ``lookalike serve`` is a command that starts the web app; nothing else of cli imports web (its
#: --json documents are the result types' to_dict(), as the API's are), and web imports nothing of cli.
SIBLING_IMPORTS: frozenset[tuple[str, str]] = frozenset({
    ("lookalike.cli._serve", "lookalike.web"),
})

#: Deprecated shims kept for one release, the only upward imports: (importing module, imported module).
#: Each is checked to warn (``test_deprecated_shims_warn``); remove the entry with the shim.
DEPRECATED_SHIMS: frozenset[tuple[str, str]] = frozenset({
    ("lookalike.index._index", "lookalike.pipelines"),  # Index.search -> lookalike.search(query, index, top=k)
})


#: Scripts under benchmarks/ that may read private names, and why. Every other one uses the public API.
#: (Checked to still need it, so the list only shrinks.)
BENCHMARK_EXCEPTIONS: dict[str, str] = {
    "benchmarks.calibrate_search": "a calibration tool, not a benchmark: it fits the copy-similarity constants from "
                                   "the search engine's raw evidence for every candidate, which no result exposes",
    "benchmarks.bench_search_latency": "times verification with 1 thread against the default 2 "
                                       "(lookalike.pipelines._search.VERIFY_THREADS), a setting with no public knob",
}


class Import(NamedTuple):
    importer: str  # dotted module name, e.g. "lookalike.index._index"
    target: str  # dotted module imported, e.g. "lookalike.pipelines"
    names: tuple[str, ...]  # names taken from it (``from target import a, b``); empty for ``import target``
    line: int


def module_name(path: Path, src: Path = SRC) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(module: str, source: str, *, is_package: bool) -> Iterator[Import]:
    """Every import of ``lookalike`` in one module's source, wherever it sits (functions included)."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "lookalike" or alias.name.startswith("lookalike."):
                    yield Import(module, alias.name, (), node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                if node.level > 1:
                    base = base[: -(node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if target == "lookalike" or target.startswith("lookalike."):
                yield Import(module, target, tuple(alias.name for alias in node.names), node.lineno)


def _part(module: str) -> str:
    """The top-level part of lookalike a module belongs to (``"lookalike"`` for the root package itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "lookalike"


def _layer(part: str) -> int | None:
    for level, layer in enumerate(LAYERS):
        if part in layer:
            return level
    return None


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def violations(sources: Mapping[str, tuple[str, bool]], *, public_only: bool = False) -> list[str]:
    """The contract's findings for modules ``{name: (source, is_package)}``, one line each.

    ``public_only`` (the benchmarks): every private module or name of lookalike is refused.
    """
    found: list[str] = []
    for module, (source, is_package) in sorted(sources.items()):
        here = _part(module) if module.startswith("lookalike") else None
        if here is not None and _layer(here) is None:
            found.append(f"{module}: lookalike.{here} is in no layer; place it in LAYERS in tests/test_layers.py")
            continue
        for imp in imports_of(module, source, is_package=is_package):
            where = f"{module}:{imp.line} imports {imp.target}"
            there = _part(imp.target)
            # rule 2: private modules and names stay in their package
            home = imp.target.split(".")[:2]  # ["lookalike", "x"]
            inside = here is not None and module.split(".")[:2] == home
            if not inside or public_only:
                # lookalike._x (a top-level private helper) is shared by the whole package, not by the benchmarks
                parts = imp.target.split(".")[1:] if public_only else imp.target.split(".")[2:]
                private_parts = [p for p in parts if _private(p)]
                private_names = [n for n in imp.names if _private(n)]
                if private_parts or private_names:
                    what = ".".join([imp.target, *private_names[:1]]) if private_names else imp.target
                    found.append(f"{where}: private {what} used outside {'.'.join(home)}")
            if here is None or there == here:
                continue
            # rule 1: layers point one way, siblings are independent
            mine, theirs = _layer(here), _layer(there)
            if theirs is None:
                found.append(f"{where}: lookalike.{there} is in no layer; place it in LAYERS in tests/test_layers.py")
            elif mine is not None and theirs > mine and (module, imp.target) not in DEPRECATED_SHIMS:
                found.append(f"{where}: upward import ({here} is below {there})")
            elif theirs == mine and (module, imp.target) not in SIBLING_IMPORTS:
                found.append(f"{where}: {here} and {there} are independent siblings of one layer")
    return found


def read_tree(root: Path, *, src: Path) -> dict[str, tuple[str, bool]]:
    return {
        module_name(path, src): (path.read_text(encoding="utf-8"), path.name == "__init__.py")
        for path in sorted(root.rglob("*.py"))
    }


def source_modules() -> dict[str, tuple[str, bool]]:
    return read_tree(SRC / "lookalike", src=SRC)


def benchmark_modules() -> dict[str, tuple[str, bool]]:
    return {f"benchmarks.{path.stem}": (path.read_text(encoding="utf-8"), False)
            for path in sorted(BENCHMARKS.glob("*.py"))}


def test_layers_and_private_modules() -> None:
    found = violations(source_modules())
    assert not found, "import contract broken:\n" + "\n".join(found)


def test_benchmarks_use_the_public_api() -> None:
    modules = benchmark_modules()
    assert modules, "no benchmark found"
    found = violations({m: s for m, s in modules.items() if m not in BENCHMARK_EXCEPTIONS}, public_only=True)
    assert not found, "benchmarks reach into private modules:\n" + "\n".join(found)
    for module in BENCHMARK_EXCEPTIONS:  # an exception that is no longer needed is removed
        assert violations({module: modules[module]}, public_only=True), f"{module} needs no exception any more"


def test_deprecated_shims_are_still_there() -> None:
    # an entry outlives its shim otherwise: each listed import must still exist
    modules = source_modules()
    for importer, target in DEPRECATED_SHIMS:
        source, is_package = modules[importer]
        assert any(i.target == target for i in imports_of(importer, source, is_package=is_package)), (importer, target)


def test_deprecated_shims_warn(tmp_path: Path) -> None:
    import numpy as np
    import pytest

    from lookalike.index import Index

    with Index.create(tmp_path / "idx", descriptors=["phash"]) as index, \
            pytest.deprecated_call(match=r"lookalike\.search\(query, index, top=k\)"):
        assert index.search(np.zeros((32, 32), np.uint8), k=1) == []


def test_the_walk_sees_every_kind_of_import() -> None:
    source = (
        "import lookalike.io\n"
        "from . import _load\n"
        "from ..index import Index\n"
        "def f():\n"
        "    from lookalike.pipelines._search import search\n"
        "if TYPE_CHECKING:\n"
        "    import lookalike.cli as cli\n"
    )
    found = {(i.target, i.names) for i in imports_of("lookalike.io._x", source, is_package=False)}
    assert found == {
        ("lookalike.io", ()),
        ("lookalike.io", ("_load",)),
        ("lookalike.index", ("Index",)),
        ("lookalike.pipelines._search", ("search",)),
        ("lookalike.cli", ()),
    }


INJECTIONS = [  # (module, code added to it, what the contract must say about it)
    ("lookalike.index._catalog", "\n\ndef _later():\n    from lookalike.pipelines import search\n    return search\n",
     "upward import (index is below pipelines)"),
    ("lookalike.pipelines._compare", "\nfrom lookalike.io._load import load_image\n",
     "private lookalike.io._load used outside lookalike.io"),
    ("lookalike.pipelines._compare", "\nfrom lookalike.io import _secret\n",
     "private lookalike.io._secret used outside lookalike.io"),
    ("lookalike.features._hash", "\nimport lookalike.metrics\n",
     "features and metrics are independent siblings of one layer"),
    ("lookalike.io._load", "\nif TYPE_CHECKING:\n    from lookalike.cli import main\n",
     "upward import (io is below cli)"),
    ("lookalike.cli._search", "\nfrom lookalike.web import create_app\n",  # only cli._serve may
     "cli and web are independent siblings of one layer"),
]


@pytest.mark.parametrize(("module", "code", "message"), INJECTIONS)
def test_the_contract_catches_an_injected_violation(module: str, code: str, message: str) -> None:
    modules = source_modules()
    assert not violations(modules)
    source, is_package = modules[module]
    injected = {**modules, module: (source + code, is_package)}
    assert [line.split(": ", 1)[1] for line in violations(injected)] == [message]


def test_the_contract_catches_a_part_in_no_layer_and_private_imports_in_benchmarks() -> None:
    injected = {**source_modules(), "lookalike.newpart._x": ("", False)}
    assert violations(injected) == [
        "lookalike.newpart._x: lookalike.newpart is in no layer; place it in LAYERS in tests/test_layers.py"]
    bench = {"benchmarks.bench_x": ("from lookalike.index._vectors import FlatStore\nimport lookalike\n", False)}
    assert violations(bench, public_only=True) == [
        "benchmarks.bench_x:1 imports lookalike.index._vectors: private lookalike.index._vectors used outside "
        "lookalike.index"]


def main() -> int:
    benchmarks = {m: s for m, s in benchmark_modules().items() if m not in BENCHMARK_EXCEPTIONS}
    found = violations(source_modules()) + violations(benchmarks, public_only=True)
    for line in found:
        print(line)
    print(f"import contract: {len(found)} violation(s)", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
