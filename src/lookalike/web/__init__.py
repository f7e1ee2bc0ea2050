"""The web service and page: ``lookalike serve`` (FastAPI on uvicorn), a client of the public pipelines.

``create_app(config)`` builds the ASGI application (FastAPI is imported then, not here);
:class:`ServeConfig` holds its settings. Each API answer is the result type's own ``to_dict()`` (what
the CLI prints with ``--json``: one schema for both), plus links to pictures the service serves.
"""

from __future__ import annotations

from typing import Any

from lookalike.web._config import ServeConfig

__all__ = ["ServeConfig", "create_app"]


def create_app(config: ServeConfig) -> Any:
    """The ASGI application (a FastAPI app) serving the API under ``/api/v1`` and the page at ``/``.

    Needs the ``web`` extra (``pip install 'lookalike[web]'``). The index, if any, is opened when
    the application starts (its lifespan) and closed when it stops.

    Examples
    --------
    >>> app = create_app(ServeConfig())  # doctest: +SKIP
    """
    try:
        from lookalike.web._app import build_app
    except ImportError as exc:  # pragma: no cover - depends on the environment
        from lookalike.errors import MissingDependencyError

        raise MissingDependencyError(
            f"the web service needs FastAPI and uvicorn ({exc.name} is missing): pip install 'lookalike[web]'"
        ) from None
    return build_app(config)
