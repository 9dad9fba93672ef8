"""Arithmetic that gives the same bits on every x86-64 CPU: what the env computes with.

numpy hands matrix products (``@``, ``np.dot``, ``np.matmul``) to OpenBLAS, whose kernel is
chosen per CPU at import (``OPENBLAS_CORETYPE`` overrides it) and sums in its own order,
with or without fused multiply-adds; and it runs ``exp``, ``log``, ``log1p``, ``power``,
``tanh`` and its default sorts in SIMD loops chosen per CPU (``NPY_DISABLE_CPU_FEATURES``
turns them off). Both change the last bits of a result, and a sampled choice that reads
such a float flips, so a trajectory diverges (docs/environment.md, "What reproduces").

What stays the same everywhere (checked by tests/envs/test_numerics.py under every kernel):
``+ - * /``, ``sqrt``, comparisons, ``np.sum`` along an axis (a fixed pairwise order),
``np.cumsum``, ``np.einsum`` (compiled for numpy's baseline, never BLAS), stable sorts,
``argmax``, and numpy's ``Generator``. This module builds the rest from those:

- :func:`matmul`: the *exact* product of operands rounded to fixed point. Each row of the
  left operand and each column of the right one is scaled by a power of two and rounded
  to ``q`` bits, with ``2 q + ceil(log2(inner))`` at most 53; every partial sum is then an
  integer below ``2**53``, exact in float64 in any order, so BLAS's speed with none of its
  rounding. The operands keep 21-24 significant bits of their row's (column's) largest
  entry: float32's precision, relative to the row.
- :func:`exp`, :func:`log`, :func:`log1p`, :func:`sigmoid`: float64 polynomials (Cody-Waite
  reduction, then Taylor / atanh series) from ``+ - * /`` and ``ldexp`` / ``frexp``, within
  a few ulp of the correctly rounded value.
"""

from __future__ import annotations

import math

import numpy as np

_LN2_HI = 6.93147180369123816490e-01  # ln 2 split so that k * _LN2_HI is exact (fdlibm)
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_EXP_TAYLOR = tuple(1.0 / math.factorial(i) for i in range(14))  # |r| <= ln2 / 2: 4e-18
_LOG_SERIES = tuple(1.0 / (2 * i + 1) for i in range(12))  # s^2 <= 0.0295: 5e-20
_SQRT_HALF = math.sqrt(0.5)


def exp(x: np.ndarray | float) -> np.ndarray:
    """``e**x`` in float64 (overflow gives ``inf``, underflow 0)."""
    x = np.asarray(x, np.float64)
    clipped = np.clip(np.nan_to_num(x), -746.0, 710.0)
    k = np.rint(clipped * _INV_LN2)
    r = (clipped - k * _LN2_HI) - k * _LN2_LO
    p = np.full_like(r, _EXP_TAYLOR[-1])
    for c in _EXP_TAYLOR[-2::-1]:
        p *= r
        p += c
    out = np.ldexp(p, k.astype(np.int64))
    return np.where(np.isnan(x), x, out)


def log(x: np.ndarray | float) -> np.ndarray:
    """Natural logarithm in float64 (``-inf`` at 0, ``nan`` below, ``inf`` at ``inf``)."""
    x = np.asarray(x, np.float64)
    m, e = np.frexp(np.where((x > 0) & (x < np.inf), x, 1.0))  # x = m * 2**e, m in [.5, 1)
    low = m < _SQRT_HALF
    m = np.where(low, 2.0 * m, m)  # m in [sqrt(1/2), sqrt(2))
    e = (e - low).astype(np.float64)
    s = (m - 1.0) / (m + 1.0)
    z = s * s
    series = np.full_like(z, _LOG_SERIES[-1])
    for c in _LOG_SERIES[-2::-1]:
        series *= z
        series += c
    out = e * _LN2_HI + (2.0 * s * series + e * _LN2_LO)
    out = np.where(x == 0, -np.inf, out)
    out = np.where(x == np.inf, np.inf, out)
    return np.where((x < 0) | np.isnan(x), np.nan, out)


def log1p(x: np.ndarray | float) -> np.ndarray:
    """``log(1 + x)`` in float64, accurate for small ``x`` (``u = 1 + x``;
    ``log(u) * x / (u - 1)`` cancels the rounding of ``u``)."""
    x = np.asarray(x, np.float64)
    u = 1.0 + x
    ratio = np.divide(x, u - 1.0, out=np.ones_like(x), where=u != 1.0)
    return np.where(u == 1.0, x, log(u) * ratio)


def sigmoid(x: np.ndarray | float) -> np.ndarray:
    """``1 / (1 + e**-x)`` in float64."""
    return 1.0 / (1.0 + exp(-np.asarray(x, np.float64)))


def _fixed_point_bits(inner: int) -> int:
    """Bits per operand so that ``inner`` products of two ``bits``-bit integers sum below
    ``2**53``."""
    return (53 - max(inner - 1, 1).bit_length()) // 2


class FixedPoint:
    """A matrix as integers times powers of two, ready to multiply exactly.

    ``axis=1`` (a left operand ``(m, inner)``) scales each row, ``axis=0`` (a right operand
    ``(inner, n)``) each column; ``mantissas * scale`` (a power of two per row or column) is
    the rounded matrix.
    Build one once for an operand used many times (a basis, an index)."""

    def __init__(self, matrix: np.ndarray, axis: int) -> None:
        matrix = np.asarray(matrix, np.float64)
        if matrix.ndim != 2 or axis not in (0, 1):
            raise ValueError(f"FixedPoint takes a 2-d matrix and axis 0 or 1, got shape "
                             f"{matrix.shape} and axis={axis!r}")
        if not np.all(np.isfinite(matrix)):
            raise ValueError("FixedPoint: the matrix has non-finite entries")
        self.axis = axis
        self.inner = matrix.shape[axis]
        self.bits = _fixed_point_bits(self.inner)
        _, top = np.frexp(np.abs(matrix).max(axis=axis, keepdims=True, initial=0.0))
        exponents = top - self.bits  # |entry| < 2**top
        # scaling by a power of two is exact; a product is faster than ldexp
        self.mantissas = np.rint(matrix * np.ldexp(1.0, -exponents))
        self.scale = np.ldexp(1.0, exponents)

    @property
    def shape(self) -> tuple[int, int]:
        return self.mantissas.shape


def matmul(a: np.ndarray, b: np.ndarray | FixedPoint) -> np.ndarray:
    """``a @ b`` in float64, the same bits on every CPU: the exact product of ``a`` (rows
    rounded to fixed point, any leading batch axes) and ``b`` (columns rounded, or a
    prepared :class:`FixedPoint` with ``axis=0``)."""
    right = b if isinstance(b, FixedPoint) else FixedPoint(b, axis=0)
    if right.axis != 0:
        raise ValueError("matmul: a FixedPoint right operand needs axis=0")
    a = np.asarray(a)
    if a.shape[-1] != right.inner:
        raise ValueError(f"matmul: shapes {a.shape} and {right.shape} do not align")
    lead = a.shape[:-1]
    left = FixedPoint(a.reshape(-1, right.inner), axis=1)  # the same bits: the same inner
    out = left.mantissas @ right.mantissas  # every partial sum exact: order-free
    out *= left.scale  # powers of two: exact while the values stay normal floats
    out *= right.scale
    return out.reshape(*lead, right.shape[1])


def orthonormal_columns(y: np.ndarray) -> np.ndarray:
    """The columns of ``y`` ``(d, l)``, ``l <= d``, made orthonormal in order (modified
    Gram-Schmidt, each column twice) in float64; a column in the span of the earlier ones
    becomes zero."""
    q = np.zeros((y.shape[0], y.shape[1]), np.float64)
    for j in range(y.shape[1]):
        v = np.asarray(y[:, j], np.float64).copy()
        for _ in range(2):
            coefficients = (q[:, :j] * v[:, None]).sum(axis=0)
            v -= (q[:, :j] * coefficients).sum(axis=1)
        norm = np.sqrt((v * v).sum())
        if norm > 1e-12:
            q[:, j] = v / norm
    return q


def _round_robin(n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The ``n - 1`` rounds of disjoint index pairs covering every pair once (``n`` even)."""
    players, rounds = list(range(n)), []
    for _ in range(n - 1):
        half = n // 2
        rounds.append((np.array(players[:half]), np.array(players[:half - 1:-1])))
        players = [players[0], players[-1], *players[1:-1]]
    return rounds


def symmetric_eigen(matrix: np.ndarray, max_sweeps: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (descending; ties in index order) and unit eigenvectors (columns) of a
    symmetric matrix, by cyclic Jacobi rotations, ``n / 2`` disjoint ones at a time; each
    eigenvector's largest entry is positive. For small matrices: ``O(n**3)`` per sweep."""
    a = np.asarray(matrix, np.float64)
    n = a.shape[0]
    size = n + n % 2  # an odd matrix gets a decoupled zero row and column
    a = np.pad(a, (0, size - n))
    v = np.eye(size)
    scale = (a * a).sum()
    with np.errstate(over="ignore", divide="ignore"):  # a tiny a_pq: theta overflows, t = 0
        _jacobi_sweeps(a, v, scale, max_sweeps)
    values, vectors = np.diagonal(a)[:n].copy(), v[:n, :n]
    order = np.argsort(-values, kind="stable")
    return values[order], _positive_largest_entry(vectors[:, order])


def _jacobi_sweeps(a: np.ndarray, v: np.ndarray, scale: float, max_sweeps: int) -> None:
    """Rotates ``a`` toward diagonal in place, accumulating the rotations in ``v``."""
    rounds = _round_robin(a.shape[0])
    for _ in range(max_sweeps):
        off = (a * a).sum() - (np.diagonal(a) ** 2).sum()
        if off <= 1e-30 * scale:
            break
        for p, q in rounds:
            app, aqq, apq = a[p, p], a[q, q], a[p, q]
            rotate = apq != 0
            theta = np.divide(aqq - app, 2.0 * apq, out=np.zeros(p.size), where=rotate)
            t = np.where(theta >= 0, 1.0, -1.0) / (np.abs(theta) + np.sqrt(theta * theta + 1))
            t = np.where(rotate, t, 0.0)
            c = 1.0 / np.sqrt(t * t + 1.0)
            s = t * c
            ap, aq = a[:, p].copy(), a[:, q].copy()
            a[:, p], a[:, q] = c * ap - s * aq, s * ap + c * aq
            ap, aq = a[p, :].copy(), a[q, :].copy()
            a[p, :], a[q, :] = c[:, None] * ap - s[:, None] * aq, s[:, None] * ap + c[:, None] * aq
            a[p, q] = a[q, p] = 0.0
            vp, vq = v[:, p].copy(), v[:, q].copy()
            v[:, p], v[:, q] = c * vp - s * vq, s * vp + c * vq


def _positive_largest_entry(vectors: np.ndarray) -> np.ndarray:
    """Columns flipped so that each one's largest-magnitude entry (the first of ties) is
    positive: a sign that does not depend on how the vector was computed."""
    largest = np.argmax(np.abs(vectors), axis=0)
    signs = np.where(vectors[largest, np.arange(vectors.shape[1])] < 0, -1.0, 1.0)
    return vectors * signs


def top_eigenvectors(gram: np.ndarray, count: int, oversample: int = 16,
                     power_iterations: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """The ``count`` largest eigenvalues and their unit eigenvectors ``(d, count)`` of a
    symmetric positive semi-definite matrix: :func:`symmetric_eigen` itself when small,
    otherwise on its restriction to a subspace found by block power iteration from a fixed
    random start (Halko, Martinsson & Tropp 2011), ``count + oversample`` wide."""
    d = gram.shape[0]
    width = min(d, count + oversample)
    if width >= d or d <= 96:
        values, vectors = symmetric_eigen(gram)
        return values[:count], vectors[:, :count]
    basis = np.random.default_rng(0).standard_normal((d, width))
    for _ in range(power_iterations):
        basis = orthonormal_columns(matmul(gram, FixedPoint(basis, axis=0)))
    restricted = matmul(basis.T, FixedPoint(matmul(gram, FixedPoint(basis, axis=0)), axis=0))
    restricted = (restricted + restricted.T) / 2
    values, rotation = symmetric_eigen(restricted)
    vectors = orthonormal_columns(matmul(basis, FixedPoint(rotation[:, :count], axis=0)))
    return values[:count], _positive_largest_entry(vectors)
