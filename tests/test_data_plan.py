"""Planning every chapter at every scale against every data layout, without training anything.

A chapter asks for sizes; the data decide what can run. These tests check the plan of each
(chapter, scale, layout): no size asks for more images than exist, no sweep has two points at one
size (the duplicate-row crash of chapter 1 on the digits fallback) or none at all, and every
point a claim or figure reads lies inside what will run.
"""

from __future__ import annotations

import pytest

from lsa_utils.data.binary_images import load_binary_images
from lsa_utils.data.inventory import REFERENCE_LAYOUTS, ImageInventory, image_inventory, reference_inventory
from lsa_utils.experiments.lsa_images import SCHEME_CLASSES, SETTINGS, load_canvas_data, setting_scheme
from lsa_utils.run.chapters import CHAPTERS, SCALES
from lsa_utils.run.data_plan import PLANNERS, capped_sweep, plan_chapter


def layout_inventories(layout: str) -> dict[str, ImageInventory]:
    return {name: reference_inventory(name, layout) for name in ("mnist", "cifar10")}


def _lists(value, path=""):
    """Every list of numbers inside a (nested) sizes dictionary, with its path."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _lists(inner, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list) and (not value or all(isinstance(v, int | float) for v in value)):
        yield path, value
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield from _lists(inner, f"{path}[{i}]")


def test_every_chapter_has_a_planner():
    assert set(PLANNERS) == set(CHAPTERS)


@pytest.mark.parametrize("layout", REFERENCE_LAYOUTS)
@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("chapter", list(CHAPTERS))
def test_plan_has_no_duplicate_or_empty_sweep_and_meets_its_requirements(chapter, scale, layout):
    inventories = layout_inventories(layout)
    plan = plan_chapter(chapter, scale, inventories=inventories)
    assert not plan.unmet_requirements(), plan.unmet_requirements()
    for path, values in _lists(plan.sizes):
        assert values, f"{chapter}/{scale}/{layout}: {path} is an empty sweep"
        assert len(values) == len(set(values)), f"{chapter}/{scale}/{layout}: {path} has duplicates {values}"
    assert plan.fallback == (layout == "none" and chapter in ("lsa", "linearization"))
    if plan.fallback:
        assert "8x8 digits" in plan.markdown() and plan.fallback_effect


@pytest.mark.parametrize("layout", REFERENCE_LAYOUTS)
@pytest.mark.parametrize("scale", SCALES)
def test_lsa_plan_never_asks_for_more_images_than_a_setting_has(scale, layout):
    inventories = layout_inventories(layout)
    plan = plan_chapter("lsa", scale, inventories=inventories)
    for key, setting in SETTINGS.items():
        inventory = inventories[setting.dataset]
        classes = SCHEME_CLASSES[setting_scheme(setting, inventory)]
        assert 1 <= plan.sizes["n_train_by_setting"][key] <= inventory.count("train", classes)
        assert 1 <= plan.sizes["n_test_by_setting"][key] <= inventory.count("test", classes)
    mnist_train = inventories["mnist"].count("train")
    assert max(plan.sizes["scaling_n"]) <= mnist_train
    assert plan.sizes["scaling_n"] == sorted(plan.sizes["scaling_n"])


def test_lsa_default_on_the_fallback_merges_the_sizes_that_crashed_the_book():
    """default asks for n = 1,000 / 3,000 / 10,000; the digits have 1,437 training images."""
    plan = plan_chapter("lsa", "default", inventories=layout_inventories("none"))
    assert plan.sizes["scaling_n"] == [1000, 1437]
    assert plan.sizes["n_train_by_setting"]["cifar_blocks"] == 732  # digits 0-4 only
    assert any("accuracy against n" in note for note in plan.notes)
    assert "8x8 digits" in plan.markdown() and "1,437 training" in plan.markdown()


@pytest.mark.parametrize("layout", REFERENCE_LAYOUTS)
@pytest.mark.parametrize("scale", SCALES)
def test_linearization_plan_fits_the_data(scale, layout):
    inventories = layout_inventories(layout)
    plan = plan_chapter("linearization", scale, inventories=inventories)
    sizes = plan.sizes
    inventory = inventories[sizes["dataset"]]
    assert sizes["n_train"] <= inventory.count("train") and sizes["n_test"] <= inventory.count("test")
    pooled = sizes["n_train"] + sizes["n_test"]
    assert max(sizes["eigen_indices"]) <= pooled and sizes["rayleigh_count"] <= pooled
    assert sizes["probe_size"] <= sizes["n_train"]
    assert sizes["after_indices"] and set(sizes["after_indices"]) <= set(sizes["eigen_indices"])
    loaded = [task["name"] for task in sizes["real_tasks"]]
    assert len(loaded) == len(set(loaded)), "a data set would run twice (two rows at each n)"
    for task in sizes["real_tasks"]:
        assert max(task["sizes"]) <= inventories[task["dataset"]].count("train")
        assert task["test"] <= inventories[task["dataset"]].count("test")
    if layout == "none":
        assert loaded == ["digits"]
    else:
        assert loaded == CHAPTERS["linearization"].sizes(scale)["real_datasets"]


@pytest.mark.parametrize("scale", SCALES)
def test_planned_sizes_are_what_the_loaders_return_on_the_fallback(scale, monkeypatch):
    """The plan's counts against the real loaders, on the digits (always there): a gap between
    the two would bring back duplicate rows."""
    monkeypatch.delenv("LSA_DATA_DIR", raising=False)
    plan = plan_chapter("lsa", scale)
    for key, setting in SETTINGS.items():
        n_train, n_test = plan.sizes["n_train_by_setting"][key], plan.sizes["n_test_by_setting"][key]
        data = load_canvas_data(setting, n_train, n_test, seed=0)
        assert (len(data.train_labels), len(data.test_labels)) == (n_train, n_test), key
        bigger = load_canvas_data(setting, n_train + 10**6, n_test + 10**6, seed=0)
        requested = plan.sizes["mnist_n_train" if setting.dataset == "mnist" else "n_train"]
        assert (len(bigger.train_labels), len(bigger.test_labels)) == (n_train, n_test) or n_train == requested
    plan = plan_chapter("linearization", scale)
    data = load_binary_images(plan.sizes["dataset"], plan.sizes["n_train"], plan.sizes["n_test"], verbose=False)
    assert (len(data.y_train), len(data.y_test)) == (plan.sizes["n_train"], plan.sizes["n_test"])
    for task in plan.sizes["real_tasks"]:
        data = load_binary_images(task["dataset"], max(task["sizes"]), task["test"], verbose=False)
        assert (len(data.y_train), len(data.y_test)) == (max(task["sizes"]), task["test"])


def test_fallback_of_one_data_set_names_only_that_one():
    inventories = {"mnist": reference_inventory("mnist", "full"), "cifar10": reference_inventory("cifar10", "none")}
    text = plan_chapter("lsa", "default", inventories=inventories).markdown()
    assert "instead of CIFAR-10**" in text and "instead of MNIST" not in text
    assert "settings of Part B on CIFAR-10 then classify" in text
    plan = plan_chapter("linearization", "default", inventories=inventories)
    assert plan.fell_back == ["cifar10"] and "real task on cifar10" in plan.fallback_effect
    assert [t["name"] for t in plan.sizes["real_tasks"]] == ["digits", "mnist"]


def test_capped_sweep_merges_equal_points_and_keeps_order():
    assert capped_sweep([1000, 3000, 10000], 1437) == [1000, 1437]
    assert capped_sweep([250, 1000, 4000], 10**6) == [250, 1000, 4000]
    assert capped_sweep([5, 5, 2], 3) == [3, 2]


def test_a_plan_that_cannot_run_is_refused_with_the_reason():
    plan = plan_chapter("linearization", "smoke", {"tracked_index": 3}, inventories=layout_inventories("full"))
    with pytest.raises(ValueError, match="tracked_index is one of the eigen-tasks"):
        plan.check()
    plan = plan_chapter("linearization", "smoke", {"after_indices": [3]}, inventories=layout_inventories("full"))
    with pytest.raises(ValueError, match="after_indices are eigen-tasks"):
        plan.check()
    plan = plan_chapter("gaussian_mixture", "smoke", {"rf_gammas": [0.5, 2.0]})
    with pytest.raises(ValueError, match="rf_gammas contains 1.0"):
        plan.check()


def test_reference_layouts_agree_with_the_real_folder(shared_data):
    """The "shared" layout the plans are tested against is what ../shared/datasets holds."""
    for name in ("mnist", "cifar10"):
        real = image_inventory(name, shared_data)
        layout = reference_inventory(name, "shared")
        assert real.name == name and not real.fallback
        assert abs(real.count("train") - layout.count("train")) <= 10  # the layout rounds per class
        assert real.count("test") == layout.count("test")
        if name == "mnist":
            assert real.train_counts == layout.train_counts


def test_inventory_of_a_missing_folder_is_the_digits_fallback(monkeypatch):
    monkeypatch.delenv("LSA_DATA_DIR", raising=False)
    inventory = image_inventory("mnist")
    assert inventory.fallback and inventory.name == "digits"
    assert (inventory.count("train"), inventory.count("test")) == (1437, 360)
    assert inventory.count("train", (0, 1, 2, 3, 4)) == 732
