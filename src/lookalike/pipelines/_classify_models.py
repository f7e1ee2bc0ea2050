"""Classifiers over arrays: k nearest labelled neighbours (any similarity) and multinomial logistic regression.

Pure numerics, no files: :class:`KNNClassifier` votes among the nearest references of a query by
the deep embedding, searched through a vector store of :mod:`lookalike.index`;
:func:`knn_vote` does the same vote from any precomputed similarities (the pairwise metrics);
:class:`LogisticClassifier` is a multinomial logistic regression whose regularisation is chosen by
cross-validation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lookalike.errors import ParameterError

__all__ = [
    "DEFAULT_K",
    "LOGISTIC_CS",
    "KNNClassifier",
    "LogisticClassifier",
    "check_k",
    "cosine_distance",
    "encode_labels",
    "knn_vote",
    "metric_distance",
]

#: Neighbours that vote by default, chosen by measurement (``benchmarks/bench_classify.py``, the k
#: sweep in benchmarks/README.md): the best on cats/dogs (0.9875), within 0.007 of the best on
#: CIFAR-10 (k = 20) and 0.014 on Caltech-13 (k = 1), and no larger than hand-labelled classes.
DEFAULT_K = 10
#: The inverse regularisation strengths :class:`LogisticClassifier` chooses from by cross-validation.
LOGISTIC_CS: tuple[float, ...] = (1.0, 10.0, 100.0, 1000.0)
#: ``C`` is chosen on a stratified sample of at most this many references (every one of them below it):
#: cross-validating every value on 10,000 CIFAR-10 embeddings would cost a minute.
LOGISTIC_CV_MAX = 2000
#: Two unit vectors whose cosine is this close to 1 are the same picture: distance 0 (an exact copy
#: gets its reference's label, as scikit-learn's ``weights="distance"`` does for a zero distance).
_SAME = 1e-6


def check_k(k: Any) -> int:
    """``k`` as a positive int, or a ParameterError."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ParameterError(f"k must be a positive integer (neighbours that vote), got {k!r}")
    return int(k)


def encode_labels(labels: Sequence[str]) -> tuple[tuple[str, ...], np.ndarray]:
    """The sorted classes and each label's index among them; a ParameterError below two classes."""
    classes = tuple(sorted(set(labels)))
    if len(classes) < 2:
        found = f"one: {classes[0]!r}" if classes else "none"
        raise ParameterError(
            f"a classifier needs references of at least two classes, got {found}; add a folder of images for "
            "each other class"
        )
    lookup = {c: i for i, c in enumerate(classes)}
    return classes, np.fromiter((lookup[label] for label in labels), np.int64, len(labels))


def knn_vote(distances: np.ndarray, neighbour_classes: np.ndarray, n_classes: int) -> np.ndarray:
    """Class probabilities from distance-weighted votes, as scikit-learn's ``weights="distance"``.

    Each neighbour votes with weight ``1 / distance``; when some distances of a
    query are 0 (exact copies) only those vote. Missing neighbours (class -1) do
    not vote. Rows are normalised to sum to 1.

    Parameters
    ----------
    distances : ndarray, shape (n, k)
        Non-negative distances, nearest first.
    neighbour_classes : ndarray of int, shape (n, k)
        The class index of each neighbour (-1: none).
    n_classes : int

    Returns
    -------
    ndarray, shape (n, n_classes)

    Examples
    --------
    >>> import numpy as np
    >>> knn_vote(np.array([[0.5, 1.0, 1.0]]), np.array([[0, 1, 1]]), 2).round(3)
    array([[0.5, 0.5]])
    >>> knn_vote(np.array([[0.0, 0.2]]), np.array([[1, 0]]), 2)
    array([[0., 1.]])
    """
    d = np.asarray(distances, np.float64)
    c = np.asarray(neighbour_classes, np.int64)
    valid = c >= 0
    zero = (d <= 0.0) & valid
    with np.errstate(divide="ignore"):
        weights = np.where(valid, 1.0 / np.maximum(d, 1e-300), 0.0)
    exact = zero.any(axis=1)
    weights[exact] = zero[exact].astype(np.float64)
    proba = np.zeros((d.shape[0], n_classes), np.float64)
    rows = np.repeat(np.arange(d.shape[0]), d.shape[1])
    np.add.at(proba, (rows[valid.ravel()], c.ravel()[valid.ravel()]), weights.ravel()[valid.ravel()])
    total = proba.sum(axis=1, keepdims=True)
    np.divide(proba, total, out=proba, where=total > 0)
    return proba


def cosine_distance(similarities: np.ndarray) -> np.ndarray:
    """Euclidean distance between unit vectors from their cosine, ``sqrt(2 - 2 cos)`` (0 for copies)."""
    s = np.asarray(similarities, np.float64)
    d = np.sqrt(np.maximum(0.0, 2.0 - 2.0 * s))
    d[s >= 1.0 - _SAME] = 0.0
    return d


def metric_distance(values: np.ndarray, *, higher_is_better: bool, identity: float) -> np.ndarray:
    """A pairwise metric as a non-negative distance, 0 for identical images.

    Similarities (SSIM, FSIM: identity 1) become ``identity - value``; PSNR
    (identity ``inf``) becomes ``1 / value``; errors (MSE, GMSD: identity 0) are
    distances already.
    """
    v = np.asarray(values, np.float64)
    if higher_is_better:
        if np.isinf(identity):
            with np.errstate(divide="ignore"):
                d = np.where(np.isinf(v), 0.0, 1.0 / np.maximum(v, 1e-12))
        else:
            d = identity - v
    else:
        d = v - identity
    return np.where(np.isnan(d), np.inf, np.maximum(d, 0.0))


class KNNClassifier:
    """k nearest labelled neighbours by the deep embedding, with distance-weighted votes.

    The references' unit vectors go into an exact inner-product store of
    :mod:`lookalike.index` (``make_store``; HNSW beyond its exact range), a query's
    ``k`` nearest references vote with weight ``1 / d`` where
    ``d = sqrt(2 - 2 cos)`` is their Euclidean distance (scikit-learn's
    ``KNeighborsClassifier(weights="distance")`` on the same vectors), and the
    confidence of a prediction is its share of the votes.

    Parameters
    ----------
    k : int, keyword-only
        Neighbours that vote (default :data:`DEFAULT_K`; fewer when there are fewer references).

    Examples
    --------
    >>> import numpy as np
    >>> refs = np.eye(4, 8, dtype=np.float32)
    >>> model = KNNClassifier(k=3).fit(refs, ["a", "a", "b", "b"])
    >>> model.predict(refs[2:3])
    ['b']
    """

    def __init__(self, *, k: int = DEFAULT_K) -> None:
        self.k = check_k(k)
        self.classes_: tuple[str, ...] = ()
        self._codes = np.zeros(0, np.int64)
        self._store: Any = None

    def fit(self, vectors: Any, labels: Sequence[str]) -> KNNClassifier:
        """Keep the references: unit vectors (n, d) and their labels."""
        from lookalike.index import choose_backend, make_store

        array = np.ascontiguousarray(vectors, np.float32)
        if array.ndim != 2 or len(array) != len(labels):
            raise ParameterError(f"expected (n, d) vectors and n labels, got {array.shape} and {len(labels)} labels")
        self.classes_, self._codes = encode_labels(labels)
        self._store = make_store(choose_backend(len(array), metric="ip"), array.shape[1], metric="ip")
        self._store.add(np.arange(len(array), dtype=np.int64), array)
        return self

    def kneighbors(self, queries: Any, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(cosines, positions)`` of the nearest references, each (n, k), best first; position -1 where missing."""
        if self._store is None:
            raise ParameterError("the classifier has no references yet: call fit first")
        q = np.ascontiguousarray(np.atleast_2d(queries), np.float32)
        want = min(check_k(k if k is not None else self.k), len(self._codes))
        similarities, positions = self._store.search(q, want)
        return np.asarray(similarities, np.float64), np.asarray(positions, np.int64)

    def predict_proba(self, queries: Any) -> np.ndarray:
        """Vote shares of each class (columns in the order of ``classes_``)."""
        return self.vote(*self.kneighbors(queries))

    def vote(self, similarities: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Vote shares from the result of :meth:`kneighbors`."""
        codes = np.where(positions >= 0, self._codes[np.maximum(positions, 0)], -1)
        return knn_vote(cosine_distance(similarities), codes, len(self.classes_))

    def predict(self, queries: Any) -> list[str]:
        return [self.classes_[i] for i in np.argmax(self.predict_proba(queries), axis=1)]


class LogisticClassifier:
    """Multinomial logistic regression with an L2 penalty chosen by cross-validation.

    Minimises ``C * sum(cross-entropy) + ||W||^2 / 2`` over the weights ``W``
    and an unpenalised intercept (scikit-learn's
    ``LogisticRegression(multi_class="multinomial", penalty="l2")`` objective),
    with L-BFGS (scipy) on the analytic gradient, warm-started along the path
    of ``C`` values. ``C`` is the value of :data:`LOGISTIC_CS` with the lowest
    mean held-out log loss over ``cv`` stratified folds (as
    ``LogisticRegressionCV(scoring="neg_log_loss")``), on at most
    :data:`LOGISTIC_CV_MAX` references (a stratified sample beyond); the model
    is then refit on every reference. With fewer references than dimensions the
    fit runs in the span of the references (their right singular vectors): the
    optimum of an L2-penalised linear model lies there, so the solution is the
    same, found faster.

    Parameters
    ----------
    C : float, optional, keyword-only
        Fix the inverse regularisation strength (no cross-validation).
    cv : int, keyword-only
        Folds for choosing ``C`` (default 3; fewer when a class is smaller).
    max_iter : int, keyword-only
        L-BFGS iterations per fit.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = np.vstack([rng.normal(-1, 1, (20, 2)), rng.normal(1, 1, (20, 2))])
    >>> model = LogisticClassifier(C=1.0).fit(x, ["a"] * 20 + ["b"] * 20)
    >>> model.predict(np.array([[-2.0, -2.0], [2.0, 2.0]]))
    ['a', 'b']
    """

    def __init__(self, *, C: float | None = None, cv: int = 3, max_iter: int = 100) -> None:
        if C is not None and (isinstance(C, bool) or not isinstance(C, int | float) or not C > 0):
            raise ParameterError(f"C must be a positive number, got {C!r}")
        self.C = C
        self.cv = cv
        self.max_iter = max_iter
        self.classes_: tuple[str, ...] = ()
        self.C_: float | None = None
        self.cv_log_loss_: dict[float, float] = {}
        self.coef_ = np.zeros((0, 0))
        self.intercept_ = np.zeros(0)

    def fit(self, vectors: Any, labels: Sequence[str]) -> LogisticClassifier:
        from lookalike.pipelines._classify_data import stratified_folds

        x = np.ascontiguousarray(vectors, np.float32)
        if x.ndim != 2 or len(x) != len(labels):
            raise ParameterError(f"expected (n, d) vectors and n labels, got {x.shape} and {len(labels)} labels")
        self.classes_, y = encode_labels(labels)
        basis = None
        if len(x) < x.shape[1]:  # the span of the references holds the optimum
            basis = np.linalg.svd(x.astype(np.float64), full_matrices=False)[2].T.astype(np.float32)
            x = np.ascontiguousarray(x @ basis)
        n_classes = len(self.classes_)
        if self.C is not None:
            chosen = float(self.C)
        else:
            smallest = int(np.bincount(y, minlength=n_classes).min())
            folds_n = min(self.cv, smallest)
            if folds_n < 2:
                chosen = float(np.median(LOGISTIC_CS))  # a class of one image: nothing to cross-validate on
            else:
                sample = np.arange(len(y))
                if len(y) > LOGISTIC_CV_MAX:
                    sample = np.sort(stratified_folds([str(v) for v in y], -(-len(y) // LOGISTIC_CV_MAX), seed=1)[0])
                xs, ys = x[sample], y[sample]
                folds = stratified_folds([str(v) for v in ys], folds_n, seed=0)
                losses = np.zeros(len(LOGISTIC_CS))
                for test in folds:
                    train = np.setdiff1d(np.arange(len(ys)), test)
                    w = None
                    for j, c in enumerate(LOGISTIC_CS):
                        w = _fit_logistic(xs[train], ys[train], n_classes, c, self.max_iter, w)
                        p = _softmax(_scores(xs[test], w))
                        losses[j] += -np.log(np.maximum(p[np.arange(len(test)), ys[test]], 1e-15)).sum()
                losses /= len(ys)
                self.cv_log_loss_ = {c: float(v) for c, v in zip(LOGISTIC_CS, losses, strict=True)}
                chosen = float(LOGISTIC_CS[int(np.argmin(losses))])
        w = _fit_logistic(x, y, n_classes, chosen, self.max_iter, None)
        self.C_ = chosen
        weights = w[:-1] if basis is None else basis.astype(np.float64) @ w[:-1]
        self.coef_, self.intercept_ = weights.T.copy(), w[-1].copy()
        return self

    def predict_proba(self, queries: Any) -> np.ndarray:
        if not self.classes_:
            raise ParameterError("the classifier is not trained yet: call fit first")
        q = np.ascontiguousarray(np.atleast_2d(queries), np.float32)
        return _softmax(q.astype(np.float64) @ self.coef_.T + self.intercept_)

    def predict(self, queries: Any) -> list[str]:
        return [self.classes_[i] for i in np.argmax(self.predict_proba(queries), axis=1)]


def _scores(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Class scores of rows ``x`` for the stacked parameters ``w`` ((d + 1, K): weights, then intercept)."""
    return (x @ w[:-1].astype(np.float32)).astype(np.float64) + w[-1]


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def logistic_objective(w_flat: np.ndarray, x: np.ndarray, y_onehot: np.ndarray, c: float) -> tuple[float, np.ndarray]:
    """``C * cross-entropy + ||W||^2 / 2`` and its gradient, for parameters stacked as (d + 1, K)."""
    d, k = x.shape[1], y_onehot.shape[1]
    w = w_flat.reshape(d + 1, k)
    z = _scores(x, w)
    z -= z.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(z).sum(axis=1, keepdims=True))
    log_p = z - log_norm
    loss = -c * float((y_onehot * log_p).sum()) + 0.5 * float((w[:-1] ** 2).sum())
    residual = (np.exp(log_p) - y_onehot) * c
    grad = np.empty_like(w)
    grad[:-1] = (x.T @ residual.astype(np.float32)).astype(np.float64) + w[:-1]
    grad[-1] = residual.sum(axis=0)
    return loss, grad.ravel()


def _fit_logistic(x: np.ndarray, y: np.ndarray, n_classes: int, c: float, max_iter: int,
                  start: np.ndarray | None) -> np.ndarray:
    from scipy.optimize import minimize

    onehot = np.zeros((len(y), n_classes), np.float64)
    onehot[np.arange(len(y)), y] = 1.0
    w0 = np.zeros((x.shape[1] + 1, n_classes)) if start is None else start
    result = minimize(logistic_objective, w0.ravel(), args=(x, onehot, c), jac=True, method="L-BFGS-B",
                      options={"maxiter": max_iter, "gtol": 1e-6 * max(1.0, c)})
    return np.asarray(result.x).reshape(x.shape[1] + 1, n_classes)
