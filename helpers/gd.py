"""Gradient descent on 2-D test functions: the lesson behind every optimizer.

What lives here:

* ``TestFunction`` and four classic examples (``schaffer2``, ``rosenbrock``,
  ``himmelblau``, ``quadratic``): analytic value and gradient, the region we
  look at (``bounds``) and the known global minima.
* ``GriddedFunction``: a function known only by its values on a grid, evaluated
  anywhere inside the grid by bilinear interpolation (the setting of the
  original course assignment).
* ``numeric_grad``: the gradient by central differences with a step ``eps``.
* ``descend``: the hand-written loop (plain gradient descent, momentum,
  Nesterov momentum) and ``descend_torch``: the same through ``torch.optim``.

Both loops return a ``Descent`` with the whole trajectory and the reason the
loop stopped. Points are numpy arrays of shape ``(2,)`` in float64.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

STOP_REASONS = ("converged", "max_steps", "diverged", "left_grid")


def _xp(x):
    """The array module that fits ``x``: ``torch`` for tensors, else ``numpy``."""
    return torch if isinstance(x, torch.Tensor) else np


# --------------------------------------------------------------------------
# Test functions with analytic gradients
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class TestFunction:
    """A 2-D function with its analytic gradient, region and known minima.

    ``value(x, y)`` and ``gradient(x, y)`` work elementwise on floats, numpy
    arrays and (for ``value``) torch tensors, so the same formula serves the
    contour plots, the hand-written loop and torch's autograd.
    Calling the object on a point ``p = (x, y)`` returns ``f(p)``.

    Attributes:
        name: a short label for tables and plots.
        value: ``(x, y) -> f``.
        gradient: ``(x, y) -> (df/dx, df/dy)``.
        bounds: ``((xmin, xmax), (ymin, ymax))``, the region we plot and draw
            random starts from.
        minima: array ``(k, 2)`` with every global minimum.
        min_value: the value at the global minima.
    """

    name: str
    value: Callable
    gradient: Callable
    bounds: tuple
    minima: np.ndarray
    min_value: float

    __test__ = False  # not a pytest test class, despite its name

    def __call__(self, p) -> float:
        """``f(p)`` for a point ``p = (x, y)``."""
        return self.value(p[0], p[1])

    def grad(self, p) -> np.ndarray:
        """The analytic gradient at the point ``p`` as a float64 array ``(2,)``."""
        gx, gy = self.gradient(p[0], p[1])
        return np.array([gx, gy], dtype=np.float64)

    def distance_to_minimum(self, p) -> float:
        """Distance from ``p`` to the nearest global minimum."""
        return float(np.min(np.linalg.norm(self.minima - np.asarray(p), axis=1)))


def schaffer2() -> TestFunction:
    """Schaffer function N.2: rings of sharp, narrow valleys around one global minimum.

    f(x, y) = 0.5 + (sin^2(x^2 - y^2) - 0.5) / (1 + 0.001 (x^2 + y^2))^2

    The valleys lie on the curves x^2 - y^2 = k*pi; along each valley the value
    falls only slowly towards the centre, so descent gets stuck in them. The
    global minimum is f(0, 0) = 0. The usual benchmark domain is [-100, 100]^2;
    we look at [-5, 5]^2 where the valleys are still resolvable.
    """

    def value(x, y):
        xp = _xp(x)
        u, r = x**2 - y**2, x**2 + y**2
        return 0.5 + (xp.sin(u) ** 2 - 0.5) / (1 + 0.001 * r) ** 2

    def gradient(x, y):
        u, r = x**2 - y**2, x**2 + y**2
        d = 1 + 0.001 * r
        s = np.sin(u) ** 2 - 0.5
        ds_du = np.sin(2 * u)          # d sin^2(u) / du
        gx = ds_du * 2 * x / d**2 - 2 * s / d**3 * 0.002 * x
        gy = ds_du * (-2 * y) / d**2 - 2 * s / d**3 * 0.002 * y
        return gx, gy

    return TestFunction("Schaffer N.2", value, gradient, ((-5.0, 5.0), (-5.0, 5.0)),
                        np.array([[0.0, 0.0]]), 0.0)


def rosenbrock(a: float = 1.0, b: float = 100.0) -> TestFunction:
    """Rosenbrock's banana: a long, curved, flat-bottomed valley.

    f(x, y) = (a - x)^2 + b (y - x^2)^2, global minimum f(a, a^2) = 0.
    """

    def value(x, y):
        return (a - x) ** 2 + b * (y - x**2) ** 2

    def gradient(x, y):
        return -2 * (a - x) - 4 * b * x * (y - x**2), 2 * b * (y - x**2)

    return TestFunction("Rosenbrock", value, gradient, ((-2.0, 2.0), (-1.0, 3.0)),
                        np.array([[a, a**2]]), 0.0)


def himmelblau() -> TestFunction:
    """Himmelblau's function: four global minima of value 0, one local maximum.

    f(x, y) = (x^2 + y - 11)^2 + (x + y^2 - 7)^2
    """

    def value(x, y):
        return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2

    def gradient(x, y):
        a, b = x**2 + y - 11, x + y**2 - 7
        return 4 * x * a + 2 * b, 2 * a + 4 * y * b

    minima = np.array([[3.0, 2.0], [-2.805118086953, 3.131312518251],
                       [-3.779310253378, -3.283185991286], [3.584428340330, -1.848126526964]])
    return TestFunction("Himmelblau", value, gradient, ((-5.0, 5.0), (-5.0, 5.0)),
                        minima, 0.0)


def quadratic(kappa: float = 25.0) -> TestFunction:
    """An ill-conditioned bowl: f(x, y) = (x^2 + kappa * y^2) / 2.

    Its curvatures are 1 along x and ``kappa`` along y, so ``kappa`` is the
    condition number. Plain gradient descent is stable for lr < 2 / kappa and
    fastest at lr = 2 / (1 + kappa). The minimum is f(0, 0) = 0.
    """
    if kappa < 1:
        raise ValueError(f"kappa must be >= 1, got {kappa}")

    def value(x, y):
        return 0.5 * (x**2 + kappa * y**2)

    def gradient(x, y):
        return x, kappa * y

    return TestFunction(f"Quadratic (kappa={kappa:g})", value, gradient,
                        ((-5.0, 5.0), (-5.0, 5.0)), np.array([[0.0, 0.0]]), 0.0)


# --------------------------------------------------------------------------
# A function known only on a grid
# --------------------------------------------------------------------------

class OutsideGridError(ValueError):
    """A gridded function was asked for a value outside its grid."""


class GriddedFunction:
    """Values on a grid, evaluated anywhere inside it by bilinear interpolation.

    ``values[i, j]`` is the function at ``(xs[i], ys[j])`` (the first index
    runs along x). ``xs`` and ``ys`` default to ``0, 1, 2, ...``: coordinates
    in *grid units*, as when a function is handed over as a bare 2-D array.

    Inside a grid cell the interpolant is
    ``(1-tx)(1-ty) v00 + tx (1-ty) v10 + (1-tx) ty v01 + tx ty v11``
    with ``tx, ty`` in [0, 1] the position inside the cell. It is exact at
    grid points and linear along grid lines. There is no analytic gradient:
    use ``numeric_grad``.
    """

    def __init__(self, values, xs=None, ys=None, name: str = "gridded"):
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 2 or min(values.shape) < 2:
            raise ValueError(f"values must be a 2-D array of at least 2x2, got shape {values.shape}")
        xs = np.arange(values.shape[0], dtype=np.float64) if xs is None else np.asarray(xs, np.float64)
        ys = np.arange(values.shape[1], dtype=np.float64) if ys is None else np.asarray(ys, np.float64)
        if xs.shape != (values.shape[0],) or ys.shape != (values.shape[1],):
            raise ValueError(f"xs, ys have lengths {xs.shape}, {ys.shape}; values has shape {values.shape}")
        if np.any(np.diff(xs) <= 0) or np.any(np.diff(ys) <= 0):
            raise ValueError("xs and ys must be strictly increasing")
        self.values, self.xs, self.ys, self.name = values, xs, ys, name
        self.bounds = ((xs[0], xs[-1]), (ys[0], ys[-1]))

    @classmethod
    def sample(cls, f: TestFunction, n: int, grid_units: bool = False) -> "GriddedFunction":
        """Sample ``f`` on an ``n`` x ``n`` grid over ``f.bounds``.

        With ``grid_units=True`` the coordinates are the indices 0..n-1
        (the bare-array setting); see ``to_grid_units`` to convert points.
        """
        (x0, x1), (y0, y1) = f.bounds
        xs, ys = np.linspace(x0, x1, n), np.linspace(y0, y1, n)
        values = f.value(*np.meshgrid(xs, ys, indexing="ij"))
        label = f"{f.name} on a {n}x{n} grid" + (" (grid units)" if grid_units else "")
        if grid_units:
            return cls(values, name=label)
        return cls(values, xs, ys, name=label)

    def _check_inside(self, x, y):
        (x0, x1), (y0, y1) = self.bounds
        bad = ~((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))  # also catches NaN
        if np.any(bad):
            px, py = np.broadcast_to(x, bad.shape)[bad], np.broadcast_to(y, bad.shape)[bad]
            raise OutsideGridError(
                f"point ({px.flat[0]:.6g}, {py.flat[0]:.6g}) is outside the grid "
                f"x in [{x0:g}, {x1:g}], y in [{y0:g}, {y1:g}]")

    def value(self, x, y):
        """Bilinear interpolation at ``(x, y)`` (floats or arrays of equal shape)."""
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        self._check_inside(x, y)
        i = np.clip(np.searchsorted(self.xs, x, side="right") - 1, 0, len(self.xs) - 2)
        j = np.clip(np.searchsorted(self.ys, y, side="right") - 1, 0, len(self.ys) - 2)
        tx = (x - self.xs[i]) / (self.xs[i + 1] - self.xs[i])
        ty = (y - self.ys[j]) / (self.ys[j + 1] - self.ys[j])
        v = self.values
        out = ((1 - tx) * (1 - ty) * v[i, j] + tx * (1 - ty) * v[i + 1, j]
               + (1 - tx) * ty * v[i, j + 1] + tx * ty * v[i + 1, j + 1])
        return out[()] if out.ndim == 0 else out

    def __call__(self, p) -> float:
        """``f(p)`` for a point ``p = (x, y)``."""
        return float(self.value(p[0], p[1]))


def to_grid_units(p, f: TestFunction, n: int) -> np.ndarray:
    """Convert a point from ``f``'s coordinates to the index coordinates of ``sample(f, n)``."""
    (x0, x1), (y0, y1) = f.bounds
    p = np.asarray(p, np.float64)
    return np.stack([(p[..., 0] - x0) / (x1 - x0) * (n - 1),
                     (p[..., 1] - y0) / (y1 - y0) * (n - 1)], axis=-1)


# --------------------------------------------------------------------------
# Gradients
# --------------------------------------------------------------------------

def numeric_grad(f: Callable, p, eps: float = 1e-6) -> np.ndarray:
    """The gradient of ``f`` at ``p`` by central differences.

    ``df/dx_i ~ (f(p + eps e_i) - f(p - eps e_i)) / (2 eps)``. The truncation
    error shrinks like eps^2; the round-off error grows like
    (machine epsilon * |f|) / eps, so eps ~ 1e-5 is a good choice in float64.
    """
    if not eps > 0:
        raise ValueError(f"eps must be a positive step, got {eps}")
    p = np.asarray(p, dtype=np.float64)
    g = np.empty_like(p)
    for i in range(p.size):
        step = np.zeros_like(p)
        step[i] = eps
        g[i] = (f(p + step) - f(p - step)) / (2 * eps)
    return g


def gradient_source(f, grad="analytic", eps: float = 1e-6) -> Callable:
    """A function ``p -> gradient`` from one of three sources.

    ``grad`` is ``"analytic"`` (``f.grad``, only for a ``TestFunction``),
    ``"numeric"`` (central differences with step ``eps``) or any callable
    ``p -> array (2,)``.
    """
    if callable(grad):
        return lambda p: np.asarray(grad(p), dtype=np.float64)
    if grad == "analytic":
        if not isinstance(f, TestFunction):
            raise ValueError(f"{getattr(f, 'name', f)!r} has no analytic gradient; use grad='numeric'")
        return f.grad
    if grad == "numeric":
        if not eps > 0:
            raise ValueError(f"eps must be a positive step, got {eps}")
        return lambda p: numeric_grad(f, p, eps)
    raise ValueError(f"grad must be 'analytic', 'numeric' or a callable, got {grad!r}")


# --------------------------------------------------------------------------
# The descent loops
# --------------------------------------------------------------------------

@dataclass
class Descent:
    """What a descent did.

    Attributes:
        path: array ``(steps + 1, 2)``: the start and every iterate. When the
            run diverged or left the grid the last row is the offending point.
        values: ``f`` at each row of ``path`` (NaN where it cannot be evaluated).
        grad_norms: the gradient norm at each row of ``path`` (NaN where not computed).
        reason: why it stopped: ``"converged"`` (gradient norm <= tol),
            ``"max_steps"``, ``"diverged"`` (non-finite or exploding values)
            or ``"left_grid"`` (the iterate or a numeric-gradient probe left
            a gridded function's domain).
        steps: the number of updates made.
    """

    path: np.ndarray
    values: np.ndarray
    grad_norms: np.ndarray
    reason: str
    steps: int

    @property
    def x(self) -> np.ndarray:
        """The final point."""
        return self.path[-1]

    @property
    def value(self) -> float:
        """The final value (NaN if the run diverged or left the grid)."""
        return float(self.values[-1])


class _Recorder:
    """Collects the trajectory of a loop and turns it into a ``Descent``."""

    def __init__(self, x0, f0):
        self.path, self.values, self.norms = [np.array(x0, np.float64)], [f0], []

    def point(self, x, fx=np.nan):
        self.path.append(np.array(x, np.float64))
        self.values.append(fx)

    def gradient(self, g, tol: float, max_steps: int) -> str | None:
        """Notes the gradient ``g`` at the current point; the reason to stop here, or ``None``."""
        self.norms.append(math.hypot(g[0], g[1]))
        if not math.isfinite(self.norms[-1]):  # an inf or NaN in g
            return "diverged"
        if self.norms[-1] <= tol:
            return "converged"
        if len(self.path) - 1 >= max_steps:
            return "max_steps"
        return None

    def move(self, x, f, max_norm: float) -> str | None:
        """Notes the step to ``x`` and its value under ``f``; the reason to stop there, or ``None``."""
        if not math.hypot(x[0], x[1]) <= max_norm:  # also true for inf and NaN
            self.point(x)
            return "diverged"
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                fx = float(f(x))
        except OutsideGridError:
            self.point(x)
            return "left_grid"
        self.point(x, fx)
        return None if np.isfinite(fx) else "diverged"

    def result(self, reason: str) -> Descent:
        norms = self.norms + [np.nan] * (len(self.path) - len(self.norms))
        return Descent(np.array(self.path), np.array(self.values, np.float64),
                       np.array(norms, np.float64), reason, len(self.path) - 1)


def _check_args(x0, lr, beta, tol, max_steps):
    x0 = np.asarray(x0, dtype=np.float64)
    if x0.shape != (2,):
        raise ValueError(f"x0 must be a point (x, y), got shape {x0.shape}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr}")
    if not 0 <= beta < 1:
        raise ValueError(f"beta must be in [0, 1), got {beta}")
    if not tol >= 0:
        raise ValueError(f"tol must be >= 0, got {tol}")
    if not (isinstance(max_steps, (int, np.integer)) and max_steps >= 0):
        raise ValueError(f"max_steps must be a non-negative int, got {max_steps!r}")
    return x0


def descend(f, x0, lr: float, beta: float = 0.0, nesterov: bool = False, tol: float = 1e-6,
            max_steps: int = 10_000, grad="analytic", eps: float = 1e-6,
            max_norm: float = 1e6) -> Descent:
    """Gradient descent with optional (Nesterov) momentum, written out by hand.

    With ``g = grad f(x)`` at the current point, one step is::

        v = beta * v + g                         # v starts at 0
        d = g + beta * v   if nesterov   else v
        x = x - lr * d

    This is exactly ``torch.optim.SGD(lr=lr, momentum=beta, nesterov=...)``
    (with dampening 0): the velocity ``v`` is a running sum of gradients, not
    of steps, so ``lr`` multiplies it afterwards and the effective step on a
    constant slope grows to ``lr / (1 - beta)``. ``beta = 0`` is plain
    gradient descent. Torch's Nesterov is the "look-ahead" method of
    Sutskever et al. rewritten so that the gradient is taken at the current
    point instead of at ``x - lr * beta * v``; both give the same iterates up
    to that change of variable.

    The loop stops before a step when ``|g| <= tol`` ("converged"), after
    ``max_steps`` updates ("max_steps"), when a value is not finite or
    ``|x| > max_norm`` ("diverged"), or when a gridded function is asked for a
    value outside its grid ("left_grid").

    Args:
        f: a ``TestFunction`` or ``GriddedFunction`` (anything callable on a point).
        x0: the start point ``(x, y)``.
        lr: the learning rate (step size), in ``f``'s coordinate units.
        beta: the momentum coefficient, 0 <= beta < 1.
        nesterov: use Nesterov's momentum.
        tol: stop when the gradient norm is at most this.
        max_steps: the most updates to make.
        grad: ``"analytic"``, ``"numeric"`` (central differences with ``eps``) or a callable.
        eps: the step of the numeric gradient.
        max_norm: a point farther than this from the origin counts as diverged.
    """
    x = _check_args(x0, lr, beta, tol, max_steps)
    gradient = gradient_source(f, grad, eps)
    try:
        rec = _Recorder(x, float(f(x)))
    except OutsideGridError:
        raise ValueError(f"the start point {tuple(x)} is outside the grid {f.bounds}") from None
    v = np.zeros(2)
    with np.errstate(over="ignore", invalid="ignore"):
        while True:
            try:
                g = gradient(x)
            except OutsideGridError:
                return rec.result("left_grid")
            stop = rec.gradient(g, tol, max_steps)
            if stop:
                return rec.result(stop)
            v = beta * v + g
            d = g + beta * v if nesterov else v
            x = x - lr * d
            stop = rec.move(x, f, max_norm)
            if stop:
                return rec.result(stop)


def descend_torch(f, x0, lr: float, optimizer: str = "sgd", beta: float = 0.0,
                  nesterov: bool = False, betas: tuple = (0.9, 0.999), tol: float = 1e-6,
                  max_steps: int = 10_000, grad="autograd", eps: float = 1e-6,
                  max_norm: float = 1e6) -> Descent:
    """The same descent through ``torch.optim`` (float64), with the same stopping rules.

    ``optimizer="sgd"`` uses ``torch.optim.SGD(lr, momentum=beta, nesterov=...)``
    (see ``descend`` for its convention); ``optimizer="adam"`` uses
    ``torch.optim.Adam(lr, betas=betas)``, whose steps have size about ``lr``
    whatever the gradient's scale.

    ``grad="autograd"`` differentiates ``f.value`` with torch (only for a
    ``TestFunction``); ``"analytic"``, ``"numeric"`` or a callable put that
    gradient into ``.grad`` instead, so the optimizer sees exactly what the
    hand-written loop sees (and gridded functions work too).
    """
    x0 = _check_args(x0, lr, beta, tol, max_steps)
    if optimizer not in ("sgd", "adam"):
        raise ValueError(f"optimizer must be 'sgd' or 'adam', got {optimizer!r}")
    if grad == "autograd" and not isinstance(f, TestFunction):
        raise ValueError(f"{getattr(f, 'name', f)!r} cannot be differentiated by torch; "
                         "use grad='numeric'")
    gradient = None if grad == "autograd" else gradient_source(f, grad, eps)
    p = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    if optimizer == "sgd":
        opt = torch.optim.SGD([p], lr=lr, momentum=beta, nesterov=nesterov and beta > 0)
    else:
        opt = torch.optim.Adam([p], lr=lr, betas=betas)
    try:
        rec = _Recorder(x0, float(f(x0)))
    except OutsideGridError:
        raise ValueError(f"the start point {tuple(x0)} is outside the grid {f.bounds}") from None
    while True:
        opt.zero_grad()
        x = p.detach().numpy().copy()
        try:
            if gradient is None:
                f.value(p[0], p[1]).backward()
            else:
                p.grad = torch.from_numpy(gradient(x))
        except OutsideGridError:
            return rec.result("left_grid")
        stop = rec.gradient(p.grad.numpy(), tol, max_steps)
        if stop:
            return rec.result(stop)
        opt.step()
        stop = rec.move(p.detach().numpy().copy(), f, max_norm)
        if stop:
            return rec.result(stop)
