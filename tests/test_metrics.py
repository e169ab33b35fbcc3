import math

import pytest

from d2l_recsys.metrics import book_running_rmse, rmse


def test_rmse_by_hand():
    # errors 1, -2, 0, 3 -> mean square (1 + 4 + 0 + 9) / 4 = 3.5
    assert rmse([3, 4, 5, 1], [4, 2, 5, 4]) == pytest.approx(math.sqrt(3.5))


def test_rmse_rejects_mismatch_and_empty():
    with pytest.raises(ValueError, match='3 ratings but 2'):
        rmse([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match='no ratings'):
        rmse([], [])


def test_book_running_rmse_by_hand():
    # shard RMSEs: 1 (errors 1,1), 3 (error 3), 0 (error 0)
    # running means: 1, 2, 4/3 -> mean (1 + 2 + 4/3) / 3 = 13/9
    shards = [([1, 1], [2, 0]), ([5], [2]), ([4], [4])]
    assert book_running_rmse(shards) == pytest.approx(13 / 9)
    # ... which is not the RMSE of the pooled errors, sqrt(11/4)
    assert rmse([1, 1, 5, 4], [2, 0, 2, 4]) == pytest.approx(math.sqrt(11 / 4))
