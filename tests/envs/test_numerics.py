"""envs.numerics: CPU-independent arithmetic is also accurate arithmetic (that it is
CPU-independent is what tests/envs/test_reproducibility.py checks under other kernels)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from envs import numerics
from envs.observation import principal_axes


def ulps(got: np.ndarray, exact: list[float]) -> np.ndarray:
    exact_array = np.array(exact)
    return np.abs(got - exact_array) / np.spacing(np.maximum(np.abs(exact_array), 1e-300))


def test_exp_log_and_log1p_are_within_a_few_ulp_of_the_c_library():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-700, 700, 20000), rng.normal(0, 3, 20000), [0.0, 1e-300]])
    assert ulps(numerics.exp(x), [math.exp(v) for v in x]).max() <= 2
    u = np.concatenate([np.exp(rng.uniform(-300, 300, 20000)), [1.0, 2.0, 0.5, 1e-308]])
    assert ulps(numerics.log(u), [math.log(v) for v in u]).max() <= 2
    v = np.concatenate([rng.uniform(-0.9, 10, 20000), 10.0 ** rng.uniform(-20, 5, 5000)])
    assert ulps(numerics.log1p(v), [math.log1p(t) for t in v]).max() <= 4
    s = rng.normal(0, 5, 1000)
    assert numerics.sigmoid(s) == pytest.approx([1 / (1 + math.exp(-t)) for t in s], rel=1e-15)


def test_special_values():
    with np.errstate(all="ignore"):
        assert np.array_equal(numerics.exp(np.array([np.inf, -np.inf, 800.0, -800.0])),
                              [np.inf, 0.0, np.inf, 0.0])
        logs = numerics.log(np.array([0.0, np.inf, -1.0, np.nan]))
    assert logs[0] == -np.inf and logs[1] == np.inf and np.isnan(logs[2:]).all()
    assert np.isnan(numerics.exp(np.nan))


def test_matmul_is_exact_for_its_rounded_operands_so_the_summing_order_does_not_matter():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(7, 3, 384)).astype(np.float32)
    b = rng.normal(size=(384, 33)).astype(np.float32)
    product = numerics.matmul(a, b)
    assert product.shape == (7, 3, 33) and product.dtype == np.float64
    order = rng.permutation(384)  # another summing order gives the same bits
    assert np.array_equal(numerics.matmul(a[..., order], b[order]), product)
    reference = a.astype(np.float64) @ b.astype(np.float64)
    scale = np.abs(a).max(axis=-1, keepdims=True) * np.abs(b).max(axis=0) * 384
    assert np.all(np.abs(product - reference) <= scale * 2.0**-21)  # float32-like rounding
    prepared = numerics.FixedPoint(b, axis=0)
    assert np.array_equal(numerics.matmul(a, prepared), product)
    assert np.array_equal(numerics.matmul(np.zeros((2, 384)), b), np.zeros((2, 33)))


@pytest.mark.parametrize(("call", "message"), [
    (lambda: numerics.matmul(np.ones((2, 3)), np.ones((4, 5))), "do not align"),
    (lambda: numerics.FixedPoint(np.array([[np.nan]]), axis=0), "non-finite"),
    (lambda: numerics.FixedPoint(np.ones(3), axis=0), "2-d matrix"),
    (lambda: numerics.matmul(np.ones((2, 3)), numerics.FixedPoint(np.ones((3, 3)), 1)),
     "axis=0"),
])
def test_bad_operands_are_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("n", [2, 9, 40])
def test_symmetric_eigen_matches_lapack(n):
    rng = np.random.default_rng(n)
    m = rng.normal(size=(n, n))
    m = m + m.T
    values, vectors = numerics.symmetric_eigen(m)
    assert values == pytest.approx(np.linalg.eigvalsh(m)[::-1], abs=1e-12)
    assert np.allclose(vectors @ np.diag(values) @ vectors.T, m, atol=1e-11)
    assert np.allclose(vectors.T @ vectors, np.eye(n), atol=1e-12)
    largest = np.abs(vectors).argmax(axis=0)
    assert np.all(vectors[largest, np.arange(n)] > 0)


def test_principal_axes_are_the_leading_singular_vectors():
    rng = np.random.default_rng(3)
    decay = np.exp(-np.arange(384) / 40)  # a spectrum like a text encoder's
    vectors = (rng.normal(size=(1500, 384)) * decay).astype(np.float32)
    axes = principal_axes(vectors, 33)
    assert axes.shape == (384, 33) and axes.dtype == np.float32
    assert np.allclose(axes.T @ axes, np.eye(33), atol=1e-5)
    _, singular, vt = np.linalg.svd(vectors.astype(np.float64), full_matrices=False)
    cosines = np.abs((axes.astype(np.float64) * vt[:33].T).sum(axis=0))
    assert cosines.min() > 0.999
    captured = ((vectors @ axes[:, :32]) ** 2).sum() / (singular[:32] ** 2).sum()
    assert captured > 0.99999
    small = principal_axes(vectors[:, :20], 50)  # all 20 axes of a narrow catalog
    assert small.shape == (20, 20)
