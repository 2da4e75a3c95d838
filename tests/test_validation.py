import pytest

from lsa_utils.validation import check_choice, check_positive_float, check_positive_int, check_positive_ints


def test_check_choice_names_parameter_value_and_options():
    assert check_choice("scale", "smoke", ["smoke", "paper"]) == "smoke"
    with pytest.raises(ValueError, match=r"scale='huge' is not allowed; choose one of: 'smoke', 'paper'"):
        check_choice("scale", "huge", ["smoke", "paper"])


@pytest.mark.parametrize("bad", [0, -3, 2.5, "4", True, None])
def test_check_positive_int_rejects(bad):
    with pytest.raises(ValueError, match="seeds="):
        check_positive_int("seeds", bad)


def test_check_positive_ints():
    assert check_positive_ints("widths", (4, 8)) == [4, 8]
    for bad in ([], [4, -1], 5, "48"):
        with pytest.raises(ValueError, match="widths"):
            check_positive_ints("widths", bad)


def test_check_positive_float():
    assert check_positive_float("lr", 1) == 1.0
    assert check_positive_float("noise", 0, allow_zero=True) == 0.0
    for bad in (0, -1e-3, "1", None):
        with pytest.raises(ValueError, match="lr="):
            check_positive_float("lr", bad)
