"""Classification against an open index whose folder is a labelled set: a service's ``classify``.

:func:`~lookalike.pipelines.classify` reads its references from a folder and keeps their
embeddings in that folder's feature index. A long-running process (``lookalike serve``) already
holds an index; when the folder that index was built from is a labelled set (one sub-folder per
class, :func:`~lookalike.pipelines.load_labelled`), :class:`IndexClassifier` trains the same model
once on the embeddings the index holds (no file is decoded) and labels query images (bytes, paths
or arrays) with it. Its predictions are those of ``classify(queries, FOLDER)`` when the folder's
feature index is that index: the same references, in the same order, with the same vectors.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from lookalike.errors import ImageReadError, ParameterError
from lookalike.io import RejectedFile
from lookalike.pipelines._classify import (
    CLASSIFY_METHODS,
    ClassifyResult,
    Described,
    Model,
    Prediction,
    check_options,
)
from lookalike.pipelines._classify_data import load_labelled
from lookalike.pipelines._classify_models import DEFAULT_K

if TYPE_CHECKING:
    from lookalike.index import Index

__all__ = ["IndexClassifier"]


class IndexClassifier:
    """A classifier trained on the embeddings an open index holds, its labels the class folders of ``root``.

    Parameters
    ----------
    index : Index
        An open index with the ``embedding`` descriptor.
    root : path
        The folder the index was built from, a labelled set (one sub-folder per class). Its
        images that the index holds are the references; the others are ignored (``missing``).
    method : {"knn", "logistic"}, keyword-only
        As :func:`~lookalike.pipelines.classify`; the pairwise metrics are not offered here
        (every query against every reference: not a service's job).
    k : int, keyword-only
        Neighbours that vote.

    Attributes
    ----------
    labelled : LabelledSet
        The references used (indexed and readable), with their labels.
    classes : tuple of str
    missing : int
        Images of ``root``'s class folders that the index does not hold.

    Raises
    ------
    ParameterError
        The index holds no embedding, ``root`` is no labelled set, fewer than two of its classes
        are indexed, or an option is invalid.

    Examples
    --------
    >>> model = IndexClassifier(index, "labelled/")  # doctest: +SKIP
    >>> result = model.classify([open("new.jpg", "rb").read()], names=["new.jpg"])  # doctest: +SKIP
    >>> [p.label for p in result.predictions]  # doctest: +SKIP
    ['cats']
    """

    def __init__(self, index: Index, root: str | os.PathLike[str], *, method: str = "knn", k: int = DEFAULT_K) -> None:
        name, k = check_options(method, k, 0.0)
        if name not in CLASSIFY_METHODS:
            raise ParameterError(
                f"method must be one of {', '.join(CLASSIFY_METHODS)} against an index, got {method!r}")
        spec = next((s for s in index.descriptors if s.kind == "embedding"), None)
        if spec is None:
            raise ParameterError(
                f"classification needs an index with the 'embedding' descriptor; this one holds "
                f"{', '.join(s.name for s in index.descriptors)}"
            )
        labelled = load_labelled(root)
        ids = index.ids_of(labelled.paths) if len(labelled) else np.zeros(0, np.int64)
        found = np.flatnonzero(ids >= 0)
        got, vectors = index.vectors(spec.name, ids[found])
        position = {int(i): row for row, i in enumerate(got)}
        keep = [int(j) for j in found if int(ids[j]) in position]
        held = sorted({labelled.labels[j] for j in keep})
        if len(held) < 2:
            raise ParameterError(
                f"the index holds images of {len(held)} class folder(s) of {os.fspath(root)!r}; classification "
                "needs two or more (index a folder with one sub-folder per class)"
            )
        records = {r.id: r for r in index.records(ids[keep])}
        features = np.ascontiguousarray(vectors[[position[int(ids[j])] for j in keep]], np.float32)
        refs = Described(tuple(labelled.paths[j] for j in keep), np.asarray(keep, np.int64), features,
                         tuple(str(records[int(ids[j])].content_hash or "") for j in keep), ())
        self.labelled = labelled.subset(keep)
        self.missing = len(labelled) - len(keep)
        self.method, self.k = name, k
        self.model = Model(name, refs, list(self.labelled.labels), k=k)
        self.classes: tuple[str, ...] = tuple(self.model.classes)
        self.skipped: tuple[RejectedFile, ...] = tuple(labelled.rejected)
        self._embedding_model = str(spec.params.get("model", "efficientnet-lite0"))

    def classify(self, images: Sequence[Any], *, names: Sequence[str] | None = None,
                 unknown_below: float = 0.0) -> ClassifyResult:
        """Label each image (bytes, a path or an array; decoded as the index decodes).

        ``names`` are the predictions' ``path`` (default: the path given, else ``<image i>``).
        An image that cannot be read raises :class:`~lookalike.errors.ImageReadError`. The
        result's ``skipped`` lists the references that could not be used (as ``classify``'s).
        """
        from lookalike.features import Embedder
        from lookalike.matching import load_for_descriptors
        from lookalike.pipelines._search import _embedder

        check_options(self.method, self.k, unknown_below)
        items = list(images)
        if names is not None and len(names) != len(items):
            raise ParameterError(f"{len(items)} images but {len(names)} names; give one name per image")
        labels = list(names) if names is not None else [
            os.fspath(item) if isinstance(item, str | os.PathLike) else f"<image {i}>" for i, item in enumerate(items)]
        pixels = []
        for item, label in zip(items, labels, strict=True):
            try:
                pixels.append(load_for_descriptors(item, draft=Embedder.draft_size))
            except ImageReadError as exc:
                raise ImageReadError(label, exc.reason) from None
        vectors = _embedder(self._embedding_model).embed(pixels) if pixels else np.zeros((0, 1280), np.float32)
        queries = Described(tuple(labels), np.arange(len(items), dtype=np.int64), vectors, (), ())
        predictions: list[Prediction] = self.model.predict(queries, unknown_below=unknown_below)
        return ClassifyResult(tuple(predictions), self.method, self.k, self.classes, self.skipped)

