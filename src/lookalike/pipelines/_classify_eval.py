"""``evaluate``: how accurate a classification method is, on a labelled test set or by cross-validation.

Reports what scikit-learn's ``accuracy_score``, ``balanced_accuracy_score``,
``classification_report`` and ``confusion_matrix`` report, from one set of predictions:
accuracy, balanced accuracy (the mean of the per-class recalls), per-class precision, recall,
F1 and support, and the confusion matrix (rows: true classes; columns: predicted, with an
``"unknown"`` column when ``unknown_below`` left some queries unlabelled). The per-class
recalls weighted by support are the accuracy.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lookalike.errors import ParameterError
from lookalike.io import RejectedFile
from lookalike.parallel import Jobs
from lookalike.pipelines._classify import (
    CLASSIFY_METHODS,
    DEFAULT_METRIC_SIZE,
    UNKNOWN,
    Described,
    Model,
    Prediction,
    as_labelled,
    check_options,
    describe,
    metric_values,
)
from lookalike.pipelines._classify_data import LabelledSet, stratified_folds
from lookalike.pipelines._classify_models import DEFAULT_K, encode_labels

__all__ = ["Evaluation", "evaluate", "score_predictions"]

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Evaluation:
    """The accuracy of a method on labelled queries.

    Attributes
    ----------
    method : str
    k : int
    classes : tuple of str
        The true classes (rows of ``confusion``).
    predicted_labels : tuple of str
        The columns of ``confusion``: the classes, then ``"unknown"`` if it was predicted.
    accuracy, balanced_accuracy : float
    per_class : dict
        ``{label: {"precision", "recall", "f1", "support"}}``.
    confusion : ndarray of int
        ``confusion[i, j]``: queries of class ``classes[i]`` predicted ``predicted_labels[j]``.
    truth : tuple of str
        The true label of each prediction.
    predictions : tuple of Prediction
    skipped : tuple of RejectedFile
        Files that could not be used (listed, never fatal).
    folds : int or None
        Cross-validation folds (None: a separate test set).
    n_train : int
        References per query (on average over the folds with cross-validation).
    seconds : dict
        Wall time of ``describe`` (reading and embedding, or decoding) and ``predict`` (fitting and voting).
    """

    method: str
    k: int
    classes: tuple[str, ...]
    predicted_labels: tuple[str, ...]
    accuracy: float
    balanced_accuracy: float
    per_class: dict[str, dict[str, float]]
    confusion: np.ndarray
    truth: tuple[str, ...]
    predictions: tuple[Prediction, ...]
    skipped: tuple[RejectedFile, ...] = ()
    folds: int | None = None
    n_train: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def misclassified(self) -> list[tuple[Prediction, str]]:
        """``(prediction, true label)`` of every query that got the wrong label (or ``"unknown"``)."""
        return [(p, t) for p, t in zip(self.predictions, self.truth, strict=True) if p.label != t]

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method, "k": self.k, "cv": self.folds, "n_test": len(self.predictions),
            "n_train": self.n_train,
            "accuracy": round(self.accuracy, 6), "balanced_accuracy": round(self.balanced_accuracy, 6),
            "per_class": {c: {key: (int(v) if key == "support" else round(float(v), 6)) for key, v in row.items()}
                          for c, row in self.per_class.items()},
            "confusion": {"labels": list(self.classes), "predicted": list(self.predicted_labels),
                          "matrix": self.confusion.astype(int).tolist()},
            "misclassified": [{**p.to_dict(), "true": t} for p, t in self.misclassified],
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
            "seconds": {key: round(v, 3) for key, v in self.seconds.items()},
            **({"details": self.details} if self.details else {}),
        }


def score_predictions(truth: list[str], predicted: list[str], classes: tuple[str, ...]) -> dict[str, Any]:
    """Accuracy, balanced accuracy, per-class precision/recall/F1/support and the confusion matrix.

    Precision of a class never predicted is 0 (scikit-learn's ``zero_division=0``).

    Examples
    --------
    >>> scores = score_predictions(["a", "a", "b"], ["a", "b", "b"], ("a", "b"))
    >>> scores["accuracy"], scores["balanced_accuracy"], scores["per_class"]["b"]["precision"]
    (0.6666666666666666, 0.75, 0.5)
    """
    columns = tuple(classes) + ((UNKNOWN,) if UNKNOWN in predicted and UNKNOWN not in classes else ())
    row = {c: i for i, c in enumerate(classes)}
    col = {c: i for i, c in enumerate(columns)}
    confusion = np.zeros((len(classes), len(columns)), np.int64)
    for t, p in zip(truth, predicted, strict=True):
        confusion[row[t], col[p]] += 1
    per_class: dict[str, dict[str, float]] = {}
    recalls = []
    for i, c in enumerate(classes):
        tp = int(confusion[i, col[c]])
        support = int(confusion[i].sum())
        predicted_as = int(confusion[:, col[c]].sum())
        precision = tp / predicted_as if predicted_as else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[c] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
        if support:
            recalls.append(recall)
    n = len(truth)
    accuracy = sum(int(confusion[row[c], col[c]]) for c in classes) / n if n else 0.0
    return {"accuracy": accuracy, "balanced_accuracy": float(np.mean(recalls)) if recalls else 0.0,
            "per_class": per_class, "confusion": confusion, "columns": columns}


def evaluate(
    train: str | os.PathLike[str] | LabelledSet,
    test: str | os.PathLike[str] | LabelledSet | None = None,
    *,
    cv: int | None = None,
    method: str = "knn",
    k: int = DEFAULT_K,
    unknown_below: float = 0.0,
    cache_dir: str | os.PathLike[str] | None = None,
    size: int = DEFAULT_METRIC_SIZE,
    jobs: Jobs = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> Evaluation:
    """Measure a classification method: train on ``train``, test on ``test``, or ``cv``-fold cross-validation.

    With ``cv`` the folds are stratified (every class spread evenly) and
    byte-identical files always share a fold: a query is never among its own
    references, nor are its copies.

    Parameters
    ----------
    train : path or LabelledSet
        Labelled references (class sub-folders or a ``path,label`` CSV).
    test : path or LabelledSet, optional
        Labelled queries; give either ``test`` or ``cv``.
    cv : int, optional, keyword-only
        Folds of a stratified cross-validation over ``train``.
    method, k, unknown_below, cache_dir, size, jobs, progress
        As for :func:`~lookalike.pipelines.classify`.
    seed : int, keyword-only
        The shuffle of the folds.

    Returns
    -------
    Evaluation

    Examples
    --------
    >>> report = evaluate("labelled/", cv=5)  # doctest: +SKIP
    >>> round(report.accuracy, 3), report.per_class["cats"]["recall"]  # doctest: +SKIP
    (0.985, 0.99)
    """
    name, k = check_options(method, k, unknown_below)
    if (test is None) == (cv is None):
        raise ParameterError("give a labelled test set (test=... / --test DIR) or a number of folds (cv=K / --cv K)")
    started = time.perf_counter()
    labelled = as_labelled(train)
    refs = describe(labelled.paths, name, source=labelled.source or None, cache_dir=cache_dir, size=size, jobs=jobs,
                    progress=progress)
    labels = [labelled.labels[i] for i in refs.positions]
    skipped = list(labelled.rejected) + list(refs.failed)
    predictions: list[Prediction] = []
    truth: list[str] = []
    details: dict[str, Any] = {}
    if test is not None:
        queries_set = as_labelled(test)
        queries = describe(queries_set.paths, name, source=queries_set.source or None, cache_dir=cache_dir,
                           size=size, jobs=jobs, progress=progress)
        skipped += list(queries_set.rejected) + list(queries.failed)
        described = time.perf_counter()
        model = Model(name, refs, labels, k=k)
        unseen = sorted({queries_set.labels[i] for i in queries.positions} - set(model.classes))
        if unseen:
            raise ParameterError(
                f"the test set has classes the references lack: {', '.join(unseen)}; add them to the references"
            )
        predictions = model.predict(queries, unknown_below=unknown_below, progress=progress)
        truth = [queries_set.labels[i] for i in queries.positions]
        classes, n_train, folds = model.classes, len(labels), None
        if name == "logistic" and model.logistic is not None:
            details["C"] = model.logistic.C_
        details["decoded"] = refs.decoded + queries.decoded
    else:
        described = time.perf_counter()
        folds_list = stratified_folds(labels, cv if cv is not None else 0, groups=refs.hashes, seed=seed)
        values = None
        if name not in CLASSIFY_METHODS:  # every pair once, then each fold reads its block
            values = metric_values(refs.features, refs.features, name, symmetric_same=True, progress=progress)
        classes = encode_labels(labels)[0]
        order: list[int] = []
        sizes = []
        chosen = []
        for test_positions in folds_list:
            train_positions = np.setdiff1d(np.arange(len(labels)), test_positions)
            fold_refs = _take(refs, train_positions)
            fold_queries = _take(refs, test_positions)
            model = Model(name, fold_refs, [labels[i] for i in train_positions], k=k)
            block = None if values is None else values[np.ix_(test_positions, train_positions)]
            predictions += model.predict(fold_queries, unknown_below=unknown_below, values=block)
            order += [int(i) for i in test_positions]
            sizes.append(len(train_positions))
            if name == "logistic" and model.logistic is not None:
                chosen.append(model.logistic.C_)
        truth = [labels[i] for i in order]
        n_train, folds = round(float(np.mean(sizes))), len(folds_list)
        if chosen:
            details["C"] = chosen
        details["decoded"] = refs.decoded
    finished = time.perf_counter()
    scores = score_predictions(truth, [p.label for p in predictions], classes)
    return Evaluation(
        method=name, k=k, classes=classes, predicted_labels=scores["columns"], accuracy=scores["accuracy"],
        balanced_accuracy=scores["balanced_accuracy"], per_class=scores["per_class"], confusion=scores["confusion"],
        truth=tuple(truth), predictions=tuple(predictions), skipped=tuple(skipped), folds=folds, n_train=n_train,
        seconds={"describe": described - started, "predict": finished - described},
        details=details,
    )


def _take(described: Described, positions: np.ndarray) -> Described:
    picks = [int(i) for i in positions]
    features = (described.features[picks] if isinstance(described.features, np.ndarray)
                else [described.features[i] for i in picks])
    return Described(tuple(described.paths[i] for i in picks), np.asarray(picks, np.int64), features,
                     tuple(described.hashes[i] for i in picks), ())
