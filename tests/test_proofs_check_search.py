"""geomrelax.search: the box pieces proofs_check uses (edge points, magnitude ladder, polish)."""

import numpy as np

from geomrelax.search import clip_to_box, edge_points, local_search, magnitude_ladder, polish


def test_edge_points_lie_in_the_box_and_hit_corners_and_faces():
    b = np.array([[-1.0, 2.0], [0.0, 5.0], [-np.inf, np.inf]])
    P = edge_points(b, np.random.default_rng(0), 40)
    assert P.shape == (120, 3)
    assert np.all(P[:, 0] >= -1) and np.all(P[:, 0] <= 2) and np.all(P[:, 1] >= 0) and np.all(P[:, 1] <= 5)
    corners = P[:40]
    assert set(np.unique(corners[:, 0])) == {-1.0, 2.0} and set(np.abs(np.unique(corners[:, 2]))) == {1e8}
    # near-face points are strictly inside, within 1e-2 of the range from a face
    near = P[80:, 1]
    assert np.all((near > 0) & (near < 5))


def test_magnitude_ladder_and_clip():
    P = np.array([[1.0, -2.0]])
    L = magnitude_ladder(P, exponents=(-3, 3))
    assert np.array_equal(L, [[1e-3, -2e-3], [1e3, -2e3]])
    assert np.array_equal(clip_to_box(L, [[-1, 1], [-np.inf, 0]]), [[1e-3, -2e-3], [1, -2e3]])
    assert clip_to_box(L, None) is L


def test_polish_finds_the_maximum_inside_the_box():
    # max of -(x-3)^2 - (y+1)^2 on [0, 2] x [-5, 5] is at (2, -1) (on a face)
    f = lambda p: -(p[0] - 3) ** 2 - (p[1] + 1) ** 2
    x, fx, used = polish(f, np.array([0.5, 2.0]), [[0, 2], [-5, 5]], max_evals=400)
    assert used <= 400 + 5
    assert np.allclose(x, [2, -1], atol=1e-4) and fx == f(x)


def test_local_search_is_unchanged_and_deterministic():
    score = lambda C: -np.sum((C - 1.0) ** 2, axis=-1)
    P0 = np.zeros((2, 3))
    a = local_search(score, P0, np.random.default_rng(5), iters=60, k=8)
    b = local_search(score, P0, np.random.default_rng(5), iters=60, k=8)
    assert np.array_equal(a, b) and np.allclose(a, 1.0, atol=1e-2)
