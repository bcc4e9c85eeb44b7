"""geomrelax.validate: the one set of number checks. The hand-written copies it replaced disagreed at the
corners; each test below pins the corner to the answer now shared by every caller."""

import math
import re

import numpy as np
import pytest

import synthetic
from geomrelax.app.report import ReportOptions
from geomrelax.errors import GeomrelaxError, InvalidHyperparameterError
from geomrelax.optim import options
from geomrelax.validate import check_bool, check_choice, check_int, check_real
from proofs_check.claim import Claim, ClaimError
from synthetic.methods import Method
from synthetic.variant_methods import check_options


def test_options_re_exports_the_core_validators():
    assert (options.check_real, options.check_int, options.check_bool, options.check_choice) == (
        check_real, check_int, check_bool, check_choice)


def test_messages_name_the_parameter_and_the_value():
    cases = [(lambda: check_real("lr", -0.5, low=0.0), "lr must lie in [0, inf), got -0.5"),
             (lambda: check_real("a", 1.0, low=0.0, high=1.0, low_open=True, high_open=True),
              "a must lie in (0, 1), got 1.0"),
             (lambda: check_real("x", math.nan), "x must be a real number, got NaN"),
             (lambda: check_real("x", math.inf), "x must be finite, got inf"),
             (lambda: check_int("k", 2.0, low=1), "k must be an integer >= 1, got 2.0"),
             (lambda: check_int("n", 11, low=1, high=10), "n must be an integer in 1..10, got 11"),
             (lambda: check_int("s", "3", low=None), "s must be an integer, got '3'"),
             (lambda: check_bool("flag", 1), "flag must be True or False, got 1"),
             (lambda: check_choice("c", "z", ("a", "b")), "c must be one of ['a', 'b'], got 'z'")]
    for call, msg in cases:
        with pytest.raises(InvalidHyperparameterError, match=re.escape(msg)):
            call()
    with pytest.raises(ClaimError, match="d must be an integer"):
        check_int("d", -1, error=ClaimError)


def test_numpy_scalars_are_numbers_and_bools_are_not():
    assert check_real("x", np.float32(0.5), low=0.0) == 0.5 and check_int("k", np.int64(3), low=1) == 3
    assert check_real("x", math.inf, allow_inf=True) == math.inf
    for bad in (True, np.array([0.5]), None):
        with pytest.raises(InvalidHyperparameterError, match="must be a real number"):
            check_real("x", bad)


# Resolved corners: float(value) accepted strings (synthetic's problems, noise, options and methods)
@pytest.mark.parametrize("build", [
    lambda: synthetic.Separable(4, a_min="0.5"),
    lambda: synthetic.RobustRegression(4, outliers="0.1"),
    lambda: synthetic.Gaussian(sigma="1"),
    lambda: check_options("normuon", {"beta2": "0.9"}),
    lambda: Method("signum", lr="0.1"),
])
def test_a_number_given_as_text_is_refused_not_read(build):
    with pytest.raises(GeomrelaxError, match="must be a real number, got '"):
        build()


def test_student_t_df_inf_is_refused():
    # float('inf') > 1 passed the old check, and then sqrt((df - 2)/df) = sqrt(inf/inf) = NaN scaled every draw
    with pytest.raises(synthetic.ProblemError, match="df .* must be finite, got inf"):
        synthetic.StudentT(df=math.inf)
    assert synthetic.StudentT(df=2.5).df == 2.5


def _claim(**kw):
    return Claim(id="demo", source="test", sample=lambda rng: rng.uniform(size=1), margin=lambda z: -1.0, **kw)


def test_claim_counts_and_costs():
    # bool is an int subclass: cost=True passed the old isinstance(int, float) check
    with pytest.raises(ClaimError, match="claim 'demo': cost must be a real number, got True"):
        _claim(cost=True)
    with pytest.raises(ClaimError, match="budget_s must lie in"):
        _claim(budget_s=0.0)
    # numpy integers count (the old isinstance(int) refused np.int64 draws)
    assert _claim(draws=np.int64(3), search=False).draws == 3


def test_report_n_points():
    # the old isinstance(int) check let True through as n_points = 1
    with pytest.raises(GeomrelaxError, match="n_points must be an integer in 1..10000, got True"):
        ReportOptions(n_points=True)
    assert ReportOptions(n_points=5, seed=np.int64(2)).n_points == 5


def test_sweep_grid_entries():
    from synthetic.config import ConfigError, parse_config

    grid = parse_config({"grid": {"taus": [1.0, math.inf], "seeds": 2, "dims": 3}})
    assert grid["taus"] == [1.0, math.inf] and grid["seeds"] == [0, 1] and grid["dims"] == [3]
    # True is an int to isinstance: the old seed-list check took it as seed 1
    for bad, msg in (({"seeds": [0, True]}, "grid.seeds must be an integer >= 0, got True"),
                     ({"seeds": 0}, "grid.seeds (a count) must be an integer >= 1, got 0"),
                     ({"dims": [3, 0]}, "grid.dims must be an integer >= 1, got 0"),
                     ({"taus": [1.0, -2.0]}, "grid.taus must lie in (0, inf), got -2.0"),
                     ({"dtype": "float16"}, "grid.dtype must be one of ['float32', 'float64'], got 'float16'")):
        with pytest.raises(ConfigError, match=re.escape(msg)):
            parse_config({"grid": bad})


def test_check_max_evals_is_a_count():
    from proofs_check.checker import check

    # int(2.7) = 2 was taken before: a fractional count is refused with its value
    with pytest.raises(ClaimError, match="max_evals must be an integer >= 1, got 2.7"):
        check(_claim(), max_evals=2.7)


def test_claim_choices_name_the_claim_and_the_value():
    with pytest.raises(ClaimError, match=re.escape("claim 'demo': bound must be one of ['upper', 'lower'], got 'up'")):
        _claim(bound="up")
    from geomrelax.verify import CheckResult
    with pytest.raises(ValueError, match=re.escape("status must be one of")):
        CheckResult("x", "passed")
