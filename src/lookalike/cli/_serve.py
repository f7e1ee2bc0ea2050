"""``lookalike serve``: the web page and the JSON API (FastAPI on uvicorn), localhost by default."""

from __future__ import annotations

import argparse
import logging
from typing import Any, TextIO

from lookalike.web import ServeConfig


def register(subparsers: Any) -> None:
    defaults = ServeConfig()
    parser = subparsers.add_parser(
        "serve",
        help="serve the web page and the JSON API (compare, match, search)",
        description=(
            "Serve a web page and a versioned JSON API (/api/v1, OpenAPI at /api/v1/openapi.json): compare "
            "and match two uploaded images, search an index. Every option can also be set from the environment: "
            "LOOKALIKE_ + the option's name in capitals with underscores (LOOKALIKE_INDEX, LOOKALIKE_PORT, "
            "LOOKALIKE_API_KEY_FILE, LOOKALIKE_MAX_UPLOAD_MB, ...); options given here win. SIGTERM or Ctrl-C "
            "stops it gracefully: requests in flight finish, the index is closed. Needs the web extra."
        ),
    )
    parser.add_argument("--index", "-i", metavar="IDX", default=None, help="the index to search (default: none)")
    parser.add_argument("--host", default=None, help=f"address to listen on (default: {defaults.host})")
    parser.add_argument("--port", type=int, default=None, help=f"port (default: {defaults.port})")
    parser.add_argument("--allow-writes", action="store_true", default=None,
                        help="accept uploads to the index and deletions (they also need the API key)")
    parser.add_argument("--api-key-file", metavar="FILE", default=None,
                        help="file whose first line is the API key that writes need")
    parser.add_argument("--show-paths", action="store_true", default=None,
                        help="search results carry the server's absolute paths (default: names relative to the "
                        "indexed folder)")
    parser.add_argument("--cors-origin", dest="cors_origins", action="append", default=None, metavar="ORIGIN",
                        help="allow browser calls from this origin (repeatable; default: CORS off)")
    parser.add_argument("--max-upload-mb", type=float, default=None,
                        help=f"largest request body in MB, enforced while it streams in (default: "
                        f"{defaults.max_upload_mb:g})")
    parser.add_argument("--max-pixels", type=int, default=None,
                        help=f"largest image in pixels, read from its header (default: {defaults.max_pixels:,})")
    parser.add_argument("--max-decodes", type=int, default=None,
                        help=f"images decoded and processed at once (default: {defaults.max_decodes})")
    parser.add_argument("--no-verify", dest="verify", action="store_false", default=None,
                        help="copy search without keypoint verification unless a request asks for it")
    parser.add_argument("--views", type=int, default=None, metavar="N",
                        help="copy search: embedding views of a query, 1-4 (default: 4 with verification, 1 "
                        "without; each about 10 ms of CPU) unless a request asks for others")
    parser.add_argument("--jobs", "-j", type=int, default=None,
                        help=f"worker processes when uploads are indexed (default: {defaults.jobs})")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    config = ServeConfig.from_env(
        index=args.index, host=args.host, port=args.port, allow_writes=args.allow_writes,
        api_key_file=args.api_key_file, show_paths=args.show_paths,
        cors_origins=tuple(args.cors_origins) if args.cors_origins else None, max_upload_mb=args.max_upload_mb,
        max_pixels=args.max_pixels, max_decodes=args.max_decodes, verify=args.verify, jobs=args.jobs,
        views=args.views,
    )
    from lookalike.web import create_app

    app = create_app(config)  # reads the API key: a bad key file fails here, before listening
    if not config.is_local and config.api_key_file is None:
        err.write(f"lookalike: warning: listening on {config.host}, reachable from other machines, without an API "
                  "key; anyone who can reach it can upload images to it (give --api-key-file, or put it behind "
                  "a reverse proxy that authenticates)\n")
    import uvicorn

    handler = logging.StreamHandler(err)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("lookalike.web")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        uvicorn.run(app, host=config.host, port=config.port, log_level="info", access_log=True,
                    timeout_graceful_shutdown=int(config.shutdown_timeout), server_header=False,
                    proxy_headers=True, forwarded_allow_ips="127.0.0.1")
    finally:
        logger.removeHandler(handler)
    return 0
