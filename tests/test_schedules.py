import math

import pytest

from scale_sft import answer_weight


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("cosine", {0.0: 0.2, 0.5: 0.5, 1.0: 0.8, 0.25: 0.8 + (0.2 - 0.8) * (1 + math.cos(math.pi / 4)) / 2}),
        ("linear", {0.0: 0.2, 0.5: 0.5, 1.0: 0.8, 0.25: 0.35}),
        ("constant", {0.0: 0.2, 0.5: 0.2, 1.0: 0.2}),
    ],
)
def test_values(schedule, expected):
    for progress, value in expected.items():
        assert answer_weight(progress, schedule, start=0.2, end=0.8) == pytest.approx(value, abs=1e-12)


def test_cosine_is_flat_at_the_ends_and_monotone():
    values = [answer_weight(p / 100, "cosine", 0.1, 0.9) for p in range(101)]
    assert all(b >= a for a, b in zip(values, values[1:], strict=False))
    assert values[1] - values[0] < values[51] - values[50]  # slow start, fastest mid-way


def test_reverse_direction_and_defaults():
    assert answer_weight(1.0, "cosine", start=0.9, end=0.1) == pytest.approx(0.1)
    assert answer_weight(0.0) == pytest.approx(0.2) and answer_weight(1.0) == pytest.approx(0.8)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"progress": 1.5},
        {"progress": -0.1},
        {"progress": 0.5, "schedule": "step"},
        {"progress": 0.5, "end": 1.2},
    ],
)
def test_bad_input_raises(kwargs):
    with pytest.raises(ValueError):
        answer_weight(**kwargs)
