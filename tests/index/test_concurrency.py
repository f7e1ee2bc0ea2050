"""One writer and many readers at once: the catalogue (WAL, a connection per thread) and the vector stores."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from lookalike.features import hamming_distance
from lookalike.index import FileResult, Index

BATCHES = 30
PER_BATCH = 10
READERS = 4


def _batch(spec, start: int, codes: np.ndarray) -> list[FileResult]:
    return [
        FileResult(path=f"/synthetic/{i:05d}.png", size=100 + i, mtime_ns=i, content_hash=f"h{i}", width=8, height=8,
                   vectors={"phash": spec.to_bytes(codes[i])})
        for i in range(start, start + PER_BATCH)
    ]


def test_readers_in_threads_see_consistent_states_while_one_thread_writes(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 256, (BATCHES * PER_BATCH, 8), dtype=np.uint8)
    queries = codes[:3]
    errors: list[BaseException] = []
    seen: list[list[int]] = [[] for _ in range(READERS)]
    done = threading.Event()
    with Index.create(tmp_path / "idx", descriptors=["phash"]) as index:
        spec = index.descriptor("phash")
        index.catalog.commit(_batch(spec, 0, codes))  # the queries are in from the start

        def write() -> None:
            try:
                for b in range(1, BATCHES):
                    index.catalog.commit(_batch(spec, b * PER_BATCH, codes))
                    time.sleep(0.002)
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)
            finally:
                done.set()

        def read(slot: int) -> None:
            try:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    finished = done.is_set()
                    with index.catalog.reading():  # one committed state: whole batches only
                        n = len(index.catalog.records(status="ok"))
                        ids, _blobs = index.catalog.vectors("phash")
                    assert n % PER_BATCH == 0 and len(ids) == n, (n, len(ids))
                    seen[slot].append(n)
                    distances, found = index.search_vectors(queries, 1, descriptor="phash")
                    assert distances[:, 0].tolist() == [0, 0, 0] and (found[:, 0] >= 0).all()
                    if finished:
                        return
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=read, args=(k,)) for k in range(READERS)]
        writer = threading.Thread(target=write)
        for thread in [*threads, writer]:
            thread.start()
        for thread in [writer, *threads]:
            thread.join(timeout=120)
        assert not errors, errors
        for counts in seen:  # each reader saw the catalogue only grow, and saw the end
            assert counts == sorted(counts) and counts[-1] == BATCHES * PER_BATCH
        assert sum(len(set(c)) for c in seen) > READERS  # the readers did run during the writes
        # the final state against brute force over every code written
        distances, _found = index.search_vectors(codes[:20], 3, descriptor="phash")
        want = np.sort(hamming_distance(codes[:20, None, :], codes[None, :, :]), axis=1)[:, :3]
        np.testing.assert_array_equal(distances, want)
        assert index.catalog.path.endswith("catalog.sqlite")
        mode = index.catalog._db.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"


def test_each_thread_has_its_own_connection(tmp_path: Path) -> None:
    with Index.create(tmp_path / "idx", descriptors=["phash"]) as index:
        mine = index.catalog._db
        theirs: list[object] = []
        thread = threading.Thread(target=lambda: theirs.append(index.catalog._db))
        thread.start()
        thread.join()
        assert theirs[0] is not mine and index.catalog._db is mine
