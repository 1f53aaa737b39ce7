"""Tests of helpers.gd: interpolation, numeric gradient, the descent loops."""
import math
import warnings

import numpy as np
import pytest
import torch

from helpers import gd

FUNCTIONS = [gd.quadratic(), gd.rosenbrock(), gd.himmelblau(), gd.schaffer2()]
IDS = [f.name for f in FUNCTIONS]


def random_grid(seed=0, nx=7, ny=5):
    """A gridded function with random values on an uneven grid."""
    rng = np.random.default_rng(seed)
    xs = np.cumsum(rng.uniform(0.2, 1.0, nx)) - 2.0
    ys = np.cumsum(rng.uniform(0.2, 1.0, ny)) + 1.0
    return gd.GriddedFunction(rng.normal(size=(nx, ny)), xs, ys)


# --- test functions -----------------------------------------------------------

@pytest.mark.parametrize("f", FUNCTIONS, ids=IDS)
def test_known_minima_have_the_stated_value_and_zero_gradient(f):
    for m in f.minima:
        assert f(m) == pytest.approx(f.min_value, abs=1e-10)
        assert np.linalg.norm(f.grad(m)) < 1e-9


@pytest.mark.parametrize("f", FUNCTIONS, ids=IDS)
def test_analytic_gradient_matches_torch_autograd(f):
    rng = np.random.default_rng(1)
    (x0, x1), (y0, y1) = f.bounds
    for p in np.column_stack([rng.uniform(x0, x1, 20), rng.uniform(y0, y1, 20)]):
        t = torch.tensor(p, dtype=torch.float64, requires_grad=True)
        f.value(t[0], t[1]).backward()
        np.testing.assert_allclose(f.grad(p), t.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_schaffer_has_lower_value_at_origin_than_in_its_valleys():
    f = gd.schaffer2()
    valley = np.array([math.sqrt(math.pi), 0.0])  # on x^2 - y^2 = pi
    assert np.linalg.norm(f.grad(valley)) < 1e-2
    assert f(valley) > f((0.0, 0.0)) == 0.0
    assert f((math.sqrt(math.pi / 2), 0.0)) > 0.9  # the ridge between valley and centre


# --- bilinear interpolation -----------------------------------------------------

def test_interpolation_is_exact_at_grid_points():
    g = random_grid()
    for i, x in enumerate(g.xs):
        for j, y in enumerate(g.ys):
            assert g((x, y)) == pytest.approx(g.values[i, j], abs=1e-14)


def test_interpolation_is_linear_along_grid_lines():
    g = random_grid()
    for t in np.linspace(0, 1, 11):
        # along the horizontal line y = ys[2], between xs[3] and xs[4]
        x = (1 - t) * g.xs[3] + t * g.xs[4]
        expected = (1 - t) * g.values[3, 2] + t * g.values[4, 2]
        assert g((x, g.ys[2])) == pytest.approx(expected, abs=1e-13)
        # along the vertical line x = xs[1], between ys[0] and ys[1]
        y = (1 - t) * g.ys[0] + t * g.ys[1]
        expected = (1 - t) * g.values[1, 0] + t * g.values[1, 1]
        assert g((g.xs[1], y)) == pytest.approx(expected, abs=1e-13)


def test_interpolation_reproduces_bilinear_functions_everywhere():
    def h(x, y):
        return 1.5 - 2.0 * x + 0.5 * y + 0.25 * x * y

    g0 = random_grid()
    g = gd.GriddedFunction(h(*np.meshgrid(g0.xs, g0.ys, indexing="ij")), g0.xs, g0.ys)
    rng = np.random.default_rng(2)
    px = rng.uniform(g.xs[0], g.xs[-1], 200)
    py = rng.uniform(g.ys[0], g.ys[-1], 200)
    np.testing.assert_allclose(g.value(px, py), h(px, py), atol=1e-12)


@pytest.mark.parametrize("point", [(100.0, 2.0), (0.0, -7.0), (float("nan"), 2.0)])
def test_a_point_outside_the_grid_is_a_clear_error(point):
    g = random_grid()
    with pytest.raises(ValueError, match=r"outside the grid x in \[.*\], y in \[.*\]") as err:
        g(point)
    assert isinstance(err.value, gd.OutsideGridError)


def test_bad_grids_are_rejected():
    with pytest.raises(ValueError, match="2-D"):
        gd.GriddedFunction(np.zeros(5))
    with pytest.raises(ValueError, match="increasing"):
        gd.GriddedFunction(np.zeros((3, 3)), xs=[0, 2, 1], ys=[0, 1, 2])


def test_grid_units_agree_with_the_sampled_function():
    f = gd.himmelblau()
    g = gd.GriddedFunction.sample(f, 101, grid_units=True)
    i, j = 37, 80
    assert g((i, j)) == pytest.approx(f(np.array([-5 + i * 0.1, -5 + j * 0.1])), rel=1e-12)
    p = np.array([1.234, -2.5])
    assert g(gd.to_grid_units(p, f, 101)) == pytest.approx(f(p), rel=0.02)


# --- numeric gradient --------------------------------------------------------

@pytest.mark.parametrize("f", [gd.rosenbrock(), gd.himmelblau(), gd.schaffer2()], ids=lambda f: f.name)
def test_numeric_gradient_error_shrinks_with_eps_down_to_roundoff(f):
    p = np.array([-1.2, 1.0])
    exact = f.grad(p)

    def error(eps):
        return np.linalg.norm(gd.numeric_grad(f, p, eps) - exact) / np.linalg.norm(exact)

    truncation = [error(e) for e in [1e-1, 1e-2, 1e-3]]
    # central differences: the error falls like eps^2, so ~100x per decade of eps
    assert truncation[0] > 30 * truncation[1] > 900 * truncation[2]
    assert error(1e-5) < 1e-8
    # far below the optimum, round-off takes over and the error grows again
    assert error(1e-13) > 10 * error(1e-5)


def test_numeric_gradient_is_exact_for_a_quadratic_up_to_roundoff():
    q = gd.quadratic(25)
    p = np.array([0.7, -1.3])
    np.testing.assert_allclose(gd.numeric_grad(q, p, 0.5), q.grad(p), rtol=1e-12)


@pytest.mark.parametrize("eps", [0.0, -1e-3, float("nan")])
def test_bad_eps_is_an_error(eps):
    f = gd.rosenbrock()
    with pytest.raises(ValueError, match="eps"):
        gd.numeric_grad(f, (0.0, 0.0), eps)
    with pytest.raises(ValueError, match="eps"):
        gd.descend(f, (0.0, 0.0), 1e-3, grad="numeric", eps=eps)


# --- the hand-written loop ------------------------------------------------------

def plain_gd(f, x0, lr, steps):
    """The textbook update, written out independently: x <- x - lr * grad f(x)."""
    x = np.array(x0, dtype=np.float64)
    path = [x]
    for _ in range(steps):
        x = x - lr * f.grad(x)
        path.append(x)
    return np.array(path)


@pytest.mark.parametrize("nesterov", [False, True])
def test_beta_zero_is_plain_gradient_descent_exactly(nesterov):
    f = gd.rosenbrock()
    r = gd.descend(f, (-1.2, 1.0), 1e-3, beta=0.0, nesterov=nesterov, tol=0.0, max_steps=500)
    assert r.reason == "max_steps" and r.steps == 500
    np.testing.assert_array_equal(r.path, plain_gd(f, (-1.2, 1.0), 1e-3, 500))


def torch_sgd_path(f, x0, lr, beta, nesterov, steps):
    """A bare torch.optim.SGD loop with autograd, independent of helpers.gd's loops."""
    p = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr, momentum=beta, nesterov=nesterov)
    path = [p.detach().clone().numpy()]
    for _ in range(steps):
        opt.zero_grad()
        f.value(p[0], p[1]).backward()
        opt.step()
        path.append(p.detach().clone().numpy())
    return np.array(path)


CASES = [(gd.quadratic(), (-4.0, 2.0), 0.05), (gd.rosenbrock(), (-1.2, 1.0), 1e-3),
         (gd.himmelblau(), (0.0, 0.0), 0.01), (gd.schaffer2(), (2.0, 1.5), 0.01)]


@pytest.mark.parametrize("beta, nesterov", [(0.0, False), (0.5, False), (0.9, False),
                                            (0.99, False), (0.5, True), (0.9, True)])
@pytest.mark.parametrize("f, x0, lr", CASES, ids=[c[0].name for c in CASES])
def test_hand_written_loop_matches_torch_sgd(f, x0, lr, beta, nesterov):
    mine = gd.descend(f, x0, lr, beta=beta, nesterov=nesterov, tol=0.0, max_steps=60)
    assert mine.reason == "max_steps"
    theirs = torch_sgd_path(f, x0, lr, beta, nesterov, 60)
    np.testing.assert_allclose(mine.path, theirs, rtol=0, atol=1e-10)
    via_helper = gd.descend_torch(f, x0, lr, beta=beta, nesterov=nesterov, tol=0.0, max_steps=60)
    np.testing.assert_allclose(via_helper.path, theirs, rtol=0, atol=1e-12)


def test_descend_torch_adam_matches_a_bare_adam_loop():
    f = gd.rosenbrock()
    r = gd.descend_torch(f, (-1.2, 1.0), 0.05, optimizer="adam", tol=0.0, max_steps=200)
    p = torch.tensor([-1.2, 1.0], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([p], lr=0.05)
    for _ in range(200):
        opt.zero_grad()
        f.value(p[0], p[1]).backward()
        opt.step()
    np.testing.assert_allclose(r.x, p.detach().numpy(), atol=1e-12)


def test_nesterov_needs_fewer_steps_than_plain_gd_on_an_ill_conditioned_quadratic():
    q = gd.quadratic(kappa=100)
    plain = gd.descend(q, (-4.0, 2.0), lr=0.01, tol=1e-6, max_steps=100_000)
    nest = gd.descend(q, (-4.0, 2.0), lr=0.01, beta=0.9, nesterov=True, tol=1e-6, max_steps=100_000)
    assert plain.reason == nest.reason == "converged"
    assert nest.steps < plain.steps / 2


def test_converged_means_the_gradient_norm_fell_below_tol_for_the_first_time():
    f = gd.himmelblau()
    r = gd.descend(f, (0.0, 0.0), 0.01, beta=0.5, tol=1e-6)
    assert r.reason == "converged"
    assert np.linalg.norm(f.grad(r.x)) <= 1e-6
    assert np.all(r.grad_norms[:-1] > 1e-6)
    assert len(r.path) == len(r.values) == len(r.grad_norms) == r.steps + 1
    assert r.value == pytest.approx(f(r.x))


def test_max_steps_stops_the_loop():
    r = gd.descend(gd.rosenbrock(), (-1.2, 1.0), 1e-4, tol=1e-6, max_steps=7)
    assert (r.reason, r.steps, r.path.shape) == ("max_steps", 7, (8, 2))


@pytest.mark.parametrize("f, lr", [(gd.quadratic(25), 0.1), (gd.rosenbrock(), 0.05)],
                         ids=["quadratic", "rosenbrock"])
def test_divergence_is_reported_not_hidden_in_nan(f, lr):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warnings leak out either
        r = gd.descend(f, (-1.2, 1.0), lr, tol=1e-6, max_steps=100_000)
        t = gd.descend_torch(f, (-1.2, 1.0), lr, tol=1e-6, max_steps=100_000)
    assert r.reason == t.reason == "diverged"
    assert r.steps < 100_000
    assert np.all(np.isfinite(r.path[:-1]))


def test_an_exploding_run_is_stopped_at_max_norm_long_before_overflow():
    # lr > 2/L: the y error grows by |1 - 0.1 * 25| = 1.5 per step, reaching 1e6 after ~35 steps
    r = gd.descend(gd.quadratic(25), (-1.2, 1.0), 0.1, tol=1e-6, max_steps=100_000)
    assert r.reason == "diverged" and r.steps < 60
    assert 1e6 < np.linalg.norm(r.path[-1]) < 1e7


def test_leaving_the_grid_is_reported():
    f = gd.himmelblau()
    g = gd.GriddedFunction.sample(f, 101)
    r = gd.descend(g, (-0.5, -0.5), lr=0.1, grad="numeric", eps=1e-3, tol=1e-6)
    assert r.reason == "left_grid"
    ok = gd.descend(g, (-0.5, -0.5), lr=0.01, grad="numeric", eps=0.05, tol=1e-3)
    assert ok.reason == "converged" and f.distance_to_minimum(ok.x) < 0.05
    with pytest.raises(ValueError, match="outside the grid"):
        gd.descend(g, (7.0, 0.0), lr=0.01, grad="numeric")


def test_grid_units_need_lr_over_h_squared():
    """Same data in real and in grid coordinates: lr/h^2, eps/h, tol*h give the same path."""
    f = gd.himmelblau()
    n, h = 101, 0.1
    real = gd.GriddedFunction.sample(f, n)
    units = gd.GriddedFunction.sample(f, n, grid_units=True)
    a = gd.descend(real, (-0.5, -0.5), 0.01, beta=0.5, tol=1e-4, grad="numeric", eps=0.05)
    b = gd.descend(units, gd.to_grid_units((-0.5, -0.5), f, n), 0.01 / h**2, beta=0.5,
                   tol=1e-4 * h, grad="numeric", eps=0.05 / h)
    assert a.reason == b.reason == "converged" and a.steps == b.steps
    np.testing.assert_allclose(b.path * h - 5.0, a.path, atol=1e-9)


def test_gridded_functions_have_no_analytic_gradient():
    g = random_grid()
    with pytest.raises(ValueError, match="no analytic gradient"):
        gd.descend(g, (g.xs[1], g.ys[1]), 0.1)
    with pytest.raises(ValueError, match="cannot be differentiated by torch"):
        gd.descend_torch(g, (g.xs[1], g.ys[1]), 0.1)


@pytest.mark.parametrize("kwargs, match", [
    ({"lr": 0.0}, "lr"), ({"lr": 0.1, "beta": 1.0}, "beta"), ({"lr": 0.1, "tol": -1.0}, "tol"),
    ({"lr": 0.1, "max_steps": 2.5}, "max_steps"), ({"lr": 0.1, "grad": "exact"}, "grad"),
])
def test_bad_arguments_are_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gd.descend(gd.quadratic(), (1.0, 1.0), **kwargs)
