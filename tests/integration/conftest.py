"""Fixtures shared by the command-line tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.index.conftest import make_photos


@pytest.fixture(scope="session")
def three_photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """astronaut.jpg, camera.png and coffee.jpg (scikit-image's photos, 200 px on the longest side).

    Shared by many tests: read it, never write into it (copy it first).
    """
    folder = tmp_path_factory.mktemp("three-photos") / "photos"
    make_photos(folder, ("astronaut", "camera", "coffee"), longest=200)
    return folder
