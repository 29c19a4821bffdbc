"""Institution ratings: score validation and a Bayesian average that does not let a handful of votes win."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from backend.domain.errors import invalid

PRIOR_MEAN = Decimal("3.5")  # ours: a middling score every institution starts from
PRIOR_WEIGHT = 10            # ours: as if each institution had 10 prior ratings at the mean
ASPECTS = ("teaching", "facilities", "organisation")


def _dec(value) -> Decimal:
    # str() first so a float such as 3.5 becomes Decimal("3.5") rather than its binary expansion.
    return value if isinstance(value, Decimal) else Decimal(str(value))


def bayesian_rating(sum_scores, count: int, prior_mean=PRIOR_MEAN,
                    prior_weight: int = PRIOR_WEIGHT) -> Decimal:
    """(prior_weight × prior_mean + sum) / (prior_weight + count), to 2 places; no ratings → prior_mean."""
    if count < 0 or prior_weight < 0 or prior_weight + count == 0:
        raise ValueError("count and prior_weight must be non-negative and not both zero")
    score = (prior_weight * _dec(prior_mean) + _dec(sum_scores)) / (prior_weight + count)
    return score.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def check_scores(teaching, facilities, organisation) -> None:
    """Raise 422 validation_error (details.field) unless every aspect is an integer from 1 to 5."""
    for field, value in zip(ASPECTS, (teaching, facilities, organisation), strict=True):
        # bool is an int in Python, but true/false is not a score.
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
            raise invalid("validation_error", field=field)
