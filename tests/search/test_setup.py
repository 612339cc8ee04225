import pytest

from hwnas.search.config import SearchConfig
from hwnas.spaces import make_space

TINY = {"darts": dict(init_channels=4, layers=3, input_size=8, in_channels=1),
        "nb201": dict(init_channels=4, layers=1, input_size=8, in_channels=1),
        "fbnet": dict(input_size=8, in_channels=1, num_classes=10),
        "mbv3": dict(input_size=8, in_channels=1)}


def test_config_errors():
    with pytest.raises(ValueError, match="needs --latency-budget"):
        SearchConfig(latency_loss="budget").validate()
    with pytest.raises(ValueError, match="relax"):
        SearchConfig(relax="hard").validate()
    with pytest.raises(ValueError, match="second-order"):
        SearchConfig(relax="gdas", optimizer="second").validate()


def test_param_budget_below_the_smallest_network_is_an_error():
    from hwnas.search.setup import check_param_budget

    space = make_space("nb201", **TINY["nb201"])
    with pytest.raises(ValueError, match="below the smallest network of this space: [0-9,]+ parameters"):
        check_param_budget(space, SearchConfig(space="nb201", param_budget=10))
    check_param_budget(space, SearchConfig(space="nb201", param_budget=10**9))


@pytest.mark.parametrize("train,val,classes,batch,match", [
    (3, 3, 10, 64, "no step: the training split has 3 image"),
    (1000, 10, 10, 64, r"validation \(architecture step\) split has 10 image"),
    (1000, 1000, 1, 64, "1 class"),
])
def test_a_search_that_would_take_no_step_is_refused(train, val, classes, batch, match):
    from hwnas.search.setup import check_steps

    with pytest.raises(ValueError, match=match):
        check_steps(train, val, classes, batch)
    check_steps(1000, 1000, 10, 64)  # enough data: no error


def test_a_missing_tables_dir_is_an_error_even_without_a_budget(tmp_path):
    from hwnas.search.setup import prepare

    with pytest.raises(FileNotFoundError, match="--tables-dir .* is not a folder"):
        prepare(SearchConfig(tables_dir=str(tmp_path / "nowhere"), limit=100), tmp_path / "run")
