"""The ``chart`` verifier (Mixed-R1 chart reward: relative tolerance, else string match)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from reward_service.contract.errors import InvalidInputError
from reward_service.contract.registry import VERIFIERS, Context
from reward_service.verifiers.chart import ChartParams, as_number, chart_reward, prepare


def score(response: str, ground_truth: Any, **params: Any) -> float:
    p = ChartParams(**params)
    return chart_reward(response, prepare(ground_truth, p), p, Context()).accuracy


def test_registered() -> None:
    spec = VERIFIERS.get("chart")
    assert (spec.fn, spec.prepare, spec.params) == (chart_reward, prepare, ChartParams)


@pytest.mark.parametrize(
    ("response", "ground_truth", "params", "expected"),
    [
        ("<answer>42</answer>", "42", {}, 1.0),  # exact
        ("<answer>39</answer>", "42", {}, 0.0),  # 7% off (vector R6)
        ("<answer>40</answer>", "42", {}, 1.0),  # 4.8% off: within 5%
        ("<answer>105</answer>", "100", {}, 1.0),  # exactly 5%: the bound is inclusive
        ("<answer>1.05</answer>", "1", {}, 1.0),  # … also where floats would give 0.0500…04
        ("<answer>105.01</answer>", "100", {}, 0.0),  # just outside
        ("<answer>95</answer>", "100", {}, 1.0),  # below, symmetric
        ("<answer>-42</answer>", "42", {}, 0.0),  # the sign matters
        ("<answer>-41</answer>", "-42", {}, 1.0),  # relative to |gt|
        ("<answer>0</answer>", "0", {}, 1.0),  # gt = 0: exact …
        ("<answer>0.0001</answer>", "0", {}, 0.0),  # … so any difference fails
        ("<answer>41</answer>", "42", {"tolerance": 0}, 0.0),  # tolerance 0 is exact
        ("<answer>30</answer>", "42", {"tolerance": 0.5}, 1.0),  # a wide tolerance
        # number forms
        ("<answer>1,234</answer>", "1234", {}, 1.0),  # thousands separators
        ("<answer>1,234,567.5</answer>", 1234567.5, {}, 1.0),  # gt as a JSON number
        ("<answer>12%</answer>", "12", {}, 1.0),  # % is dropped …
        ("<answer>12 %</answer>", "12%", {}, 1.0),
        ("<answer>0.12</answer>", "12%", {}, 0.0),  # … not scaled
        ("<answer>.5</answer>", "0.5", {}, 1.0),
        ("<answer>42.</answer>", 42, {}, 1.0),  # trailing period dropped
        ("\\boxed{42}", "42", {}, 1.0),  # no answer block: the last box
        ("<answer>\\boxed{42}</answer>", "42", {}, 1.0),  # a box inside the block
        ("42", "42", {}, 1.0),  # neither: the whole text
        # years are identifiers: exact (5 % of 2019 is about 100 years)
        ("<answer>2000</answer>", 2019, {}, 0.0),
        ("<answer>2020</answer>", "2019", {}, 0.0),
        ("<answer>2019.0</answer>", "2019", {}, 1.0),  # the same number
        ("<answer>1850</answer>", "1850", {}, 1.0),
        ("<answer>999</answer>", "1000", {}, 0.0),  # the range is inclusive: 1000 …
        ("<answer>2090</answer>", "2100", {}, 0.0),  # … to 2100
        ("<answer>2150</answer>", "2200", {}, 1.0),  # past it, a quantity
        ("<answer>960</answer>", "999", {}, 1.0),  # three digits: a quantity
        ("<answer>1,480</answer>", "1,500", {}, 1.0),  # a separator: a quantity
        ("<answer>1480</answer>", "1500.0", {}, 1.0),  # a decimal point: a quantity
        ("<answer>1480</answer>", 1500.0, {}, 1.0),  # a JSON float is written with one
        ("<answer>1480</answer>", "1500", {}, 0.0),  # four bare digits read as a year
        ("<answer>2000</answer>", "2019%", {}, 1.0),  # a percentage is a quantity
        ("<answer>2000</answer>", "2019", {"exact_integers": "none"}, 1.0),  # ChartQA's reading
        ("<answer>41</answer>", "42", {"exact_integers": "all"}, 0.0),  # every integer
        ("<answer>1,490</answer>", "1,500", {"exact_integers": "all"}, 0.0),
        ("<answer>-41</answer>", "-42", {"exact_integers": "all"}, 0.0),
        ("<answer>42.0</answer>", "42", {"exact_integers": "all"}, 1.0),
        ("<answer>41.5</answer>", "42.0", {"exact_integers": "all"}, 1.0),  # not an integer gold
        ("<answer>11.5%</answer>", "12%", {"exact_integers": "all"}, 1.0),
        # minus signs as a plotting library prints them; wrappers read through
        ("<answer>\u22123.5</answer>", "-3.5", {}, 1.0),  # U+2212 (matplotlib)
        ("<answer>\u20123.5</answer>", "-3.5", {}, 1.0),  # figure dash
        ("<answer>\u20133.5</answer>", "-3.5", {}, 1.0),  # en dash
        ("<answer>\uff0d3.5</answer>", "-3.5", {}, 1.0),  # full-width hyphen-minus
        ("<answer>-3.5</answer>", "\u22123.5", {}, 1.0),  # in the gold too
        ("<answer>\u20143.5</answer>", "-3.5", {}, 0.0),  # not the em dash: "no value"
        # full-width digits as CJK input methods type them; not NFKC's superscripts
        ("<answer>４２．５</answer>", "42.5", {}, 1.0),
        ("<answer>１２％</answer>", "12%", {}, 1.0),
        ("<answer>２０１９</answer>", "2019", {}, 1.0),  # a year, exact
        ("<answer>２０１８</answer>", "2019", {}, 0.0),
        ("<answer>42</answer>", "４２", {}, 1.0),  # in the gold too
        ("<answer>10²</answer>", "102", {}, 0.0),  # ² is not 2
        ("<answer>1，234</answer>", "1234", {}, 0.0),  # a CJK list comma, not a separator
        ("<answer>\u22123.5</answer>", "3.5", {}, 0.0),  # the sign still matters
        ("\\boxed{\\text{2019}}", "2019", {}, 1.0),
        ("<answer>**42**</answer>", "42", {}, 1.0),
        ("<answer>$-42$</answer>", "-42", {}, 1.0),
        ("<answer>**41** or **42**</answer>", "42", {}, 0.0),  # around part: a string
        # not numbers: normalised string equality
        ("<answer>1,2</answer>", "12", {}, 0.0),  # not a thousands group
        ("<answer>4.2e1</answer>", "42", {}, 0.0),  # no exponents
        ("<answer>$42</answer>", "42", {}, 0.0),  # no currency
        ("<answer>42 kg</answer>", "42", {}, 0.0),  # no units
        ("<answer>inf</answer>", "42", {}, 0.0),
        ("<answer>NaN</answer>", "nan", {}, 1.0),  # only as equal strings
        ("<answer>  North   America. </answer>", "north america", {}, 1.0),
        ("<answer>Europe</answer>", "Asia", {}, 0.0),
        # reward hacking
        ("<answer>40 41 42 43</answer>", "42", {}, 0.0),  # number spamming is a string
        ("<answer>40, 42</answer>", "42", {}, 0.0),  # not a thousands group either
        ("", "42", {}, 0.0),  # empty response
    ],
)
def test_scores(response: str, ground_truth: Any, params: dict[str, Any], expected: float) -> None:
    assert score(response, ground_truth, **params) == expected


@pytest.mark.parametrize(
    ("text", "number"),
    [("42", "42"), ("-1,234.5", "-1234.5"), ("+.5", "0.5"), ("7%", "7"), ("9" * 40, "9" * 40)],
)
def test_as_number(text: str, number: str) -> None:
    assert as_number(text) == Decimal(number)


@pytest.mark.parametrize(
    "text",
    ["", "-", ".", "1.", "1e5", "nan", "inf", "١٢", "1,23", "12,3456", "9" * 41, "1" * 64_000],
)
def test_not_numbers(text: str) -> None:
    # untrusted text: plain ASCII decimals only, bounded in length
    assert as_number(text) is None


@pytest.mark.parametrize("ground_truth", ["", "   ", None, True, [42], float("nan"), float("inf")])
def test_bad_ground_truth(ground_truth: Any) -> None:
    with pytest.raises(InvalidInputError):
        prepare(ground_truth, ChartParams())


def test_huge_response_is_scored() -> None:
    assert score("9" * 64_000, "42") == 0.0
    assert score("<answer>42</answer>" + "1,000 " * 10_000, "42") == 1.0


def test_details() -> None:
    p = ChartParams()
    details = chart_reward("<answer>41</answer>", prepare("42", p), p, Context()).details
    assert details == {"extracted": "41", "numeric": True, "exact": False}
    details = chart_reward("<answer>Asia</answer>", prepare("42", p), p, Context()).details
    assert details == {"extracted": "asia", "numeric": False, "exact": False}


@pytest.mark.parametrize(
    "params",
    [
        {"tol": 0.1},
        {"tolerance": -0.01},
        {"tolerance": float("inf")},
        {"tolerance": "wide"},
        {"exact_integers": "dates"},
        {"exact_integers": True},
    ],
)
def test_params_reject_unknown_keys_and_bad_values(params: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ChartParams(**params)
