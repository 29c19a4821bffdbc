from decimal import Decimal

import pytest

from backend.domain import rating
from backend.domain.errors import AppError


@pytest.mark.parametrize("sum_scores, count, expected", [
    (0, 0, Decimal("3.50")),                        # no ratings: the prior
    (15, 3, Decimal("3.85")),                       # 50 / 13 = 3.846
    (Decimal("1440"), 300, Decimal("4.76")),        # 1475 / 310 = 4.758
    (10, 10, Decimal("2.25")),                      # ten 1-star ratings pull below the prior
    (Decimal("13.5"), 3, Decimal("3.73")),          # sums of aspect averages may be fractional
])
def test_bayesian_rating(sum_scores, count, expected):
    assert rating.bayesian_rating(sum_scores, count) == expected


def test_few_perfect_ratings_rank_below_many_good_ones():
    assert rating.bayesian_rating(3 * 5, 3) < rating.bayesian_rating(Decimal("4.8") * 300, 300)


@pytest.mark.parametrize("prior_mean, prior_weight, expected", [
    (3.5, 10, Decimal("3.85")),          # float prior taken as its decimal text
    (Decimal("4"), 0, Decimal("5.00")),  # no prior weight: the plain mean
    (Decimal("3"), 2, Decimal("4.20")),  # (6 + 15) / 5
])
def test_bayesian_rating_prior(prior_mean, prior_weight, expected):
    assert rating.bayesian_rating(15, 3, prior_mean, prior_weight) == expected


@pytest.mark.parametrize("count, prior_weight", [(-1, 10), (0, 0), (1, -1)])
def test_bayesian_rating_bad_arguments(count, prior_weight):
    with pytest.raises(ValueError):
        rating.bayesian_rating(5, count, prior_weight=prior_weight)


@pytest.mark.parametrize("scores", [(1, 1, 1), (5, 5, 5), (1, 3, 5)])
def test_check_scores_ok(scores):
    rating.check_scores(*scores)


@pytest.mark.parametrize("scores, field", [
    ((0, 3, 3), "teaching"),
    ((6, 3, 3), "teaching"),
    ((3, 0, 3), "facilities"),
    ((3, 3, 6), "organisation"),
    ((3, "4", 3), "facilities"),
    ((3, 4.0, 3), "facilities"),
    ((3, 3, None), "organisation"),
    ((True, 3, 3), "teaching"),
    ((3, 3, Decimal("4")), "organisation"),
])
def test_check_scores_invalid(scores, field):
    with pytest.raises(AppError) as e:
        rating.check_scores(*scores)
    assert (e.value.code, e.value.status, e.value.details) == ("validation_error", 422, {"field": field})
