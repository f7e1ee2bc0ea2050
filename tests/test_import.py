"""``import lookalike`` stays light: heavy libraries load where they are used, never at import time."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: Top-level modules that must not be imported by merely importing lookalike (or building its CLI parser).
HEAVY = ("cv2", "scipy", "faiss", "onnxruntime", "onnx", "matplotlib", "torch", "skimage", "fastapi", "pillow_heif")


def imported_after(code: str) -> set[str]:
    """Top-level module names present in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    program = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return {name.split(".")[0] for name in json.loads(done.stdout.splitlines()[-1])}


def test_import_lookalike_is_light() -> None:
    modules = imported_after("import lookalike")
    assert "lookalike" in modules and "numpy" in modules  # the check itself works
    assert not modules & set(HEAVY), f"imported by `import lookalike`: {sorted(modules & set(HEAVY))}"


@pytest.mark.parametrize(
    "subpackage", ["io", "metrics", "features", "matching", "index", "pipelines", "viz", "cli", "color", "errors",
                   "parallel", "web"]
)
def test_subpackage_import_is_light(subpackage: str) -> None:
    modules = imported_after(f"import lookalike.{subpackage}")
    assert not modules & set(HEAVY), f"imported by lookalike.{subpackage}: {sorted(modules & set(HEAVY))}"


def test_cli_parser_is_light() -> None:
    # `lookalike --help` builds every subcommand's parser: it must not pay for OpenCV or scipy
    modules = imported_after("from lookalike.cli._main import build_parser; build_parser()")
    assert not modules & set(HEAVY), f"imported by the CLI parser: {sorted(modules & set(HEAVY))}"


def test_first_load_imports_only_what_decoding_needs(tmp_path: object) -> None:
    # decoding a PNG needs Pillow (and registers pillow-heif); it must not pull OpenCV or scipy
    code = (
        "import io, lookalike\nfrom PIL import Image\nbuf = io.BytesIO(); Image.new('RGB', (4, 4)).save(buf, 'PNG')\n"
        "lookalike.load_image(buf.getvalue())"
    )
    modules = imported_after(code)
    assert not modules & {"cv2", "scipy", "skimage", "matplotlib", "torch"}
