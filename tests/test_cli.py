import pytest

from lsa_utils.run.chapters import CHAPTERS, SCALES, get_chapter
from lsa_utils.run.cli import main, parse_override
from lsa_utils.run.context import resolve_parameters


def run_cli(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_parse_override():
    assert parse_override("seed=3") == ("seed", 3)
    assert parse_override("widths=[64, 128]") == ("widths", [64, 128])
    assert parse_override("device=cuda") == ("device", "cuda")
    with pytest.raises(ValueError, match="write -p key=value"):
        parse_override("seed")


@pytest.mark.parametrize(
    "argv,message",
    [
        (["run", "nope"], "chapter='nope' is not allowed; choose one of: 'lazy_vs_rich', 'lsa', 'representation', 'gaussian_mixture', 'linearization', 'kernels'"),
        (["run", "lazy_vs_rich", "--scale", "huge"], "scale='huge' is not allowed; choose one of: 'smoke', 'default', 'paper'"),
        (["run", "lazy_vs_rich", "-p", "seeds=-1"], "seeds=-1 is not allowed; it must be a whole number >= 1"),
        (["run", "lazy_vs_rich", "-p", "widths=[64, 0]"], "widths entry=0 is not allowed"),
        (["run", "lazy_vs_rich", "-p", "lr=-0.1"], "lr=-0.1 is not allowed; it must be a number > 0"),
        (["run", "lazy_vs_rich", "--device", "tpu"], "device='tpu' is not allowed; choose one of: 'auto', 'cpu', 'cuda'"),
        (["run", "lazy_vs_rich", "--seed", "-4"], "seed=-4 is not allowed"),
        (["run", "lazy_vs_rich", "-p", "depth=3"], "parameter 'depth' is not a parameter of chapter 'lazy_vs_rich'; allowed: seed, device, n_train"),
        (["book", "--scale", "tiny"], "scale='tiny' is not allowed"),
        (["run", "linearization", "-p", "models=['mlp', 'vgg']"], "models entry='vgg' is not allowed; choose one of: 'mlp', 'lenet'"),
        (["run", "linearization", "-p", "dataset=svhn"], "dataset='svhn' is not allowed; choose one of: 'mnist', 'cifar10'"),
        (["run", "gaussian_mixture", "-p", "rf_gammas=[0.5, 2.0]"], "these parameters cannot run: rf_gammas contains 1.0"),
        (["run", "linearization", "-p", "tracked_index=7"], "tracked_index is one of the eigen-tasks that run"),
    ],
)
def test_bad_parameters_stop_with_a_clear_message(capsys, argv, message):
    code, _, err = run_cli(capsys, *argv)
    assert code == 2
    assert message in err


def test_list_shows_every_chapter_and_scale(capsys):
    code, out, _ = run_cli(capsys, "list")
    assert code == 0
    for name in CHAPTERS:
        assert name in out
    for scale in SCALES:
        assert f"  {scale} [" in out


def test_scales_are_complete_and_valid():
    """Every chapter defines the same knobs at every scale, and each scale passes validation."""
    for chapter in CHAPTERS.values():
        keys = set(chapter.scales["default"])
        for scale in SCALES:
            assert set(chapter.scales[scale]) == keys, (chapter.name, scale)
            params = resolve_parameters(chapter, scale, {})
            assert params["seed"] == 0 and params["device"] == "auto"
        assert chapter.run_time.keys() == set(SCALES)


def test_overrides_keep_unset_sizes_from_the_scale():
    chapter = get_chapter("lazy_vs_rich")
    params = resolve_parameters(chapter, "smoke", {"seeds": 7, "widths": None, "seed": 2})
    assert params["seeds"] == 7 and params["seed"] == 2
    assert params["widths"] == chapter.scales["smoke"]["widths"]
