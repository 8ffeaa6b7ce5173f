import pytest

from tgan.subsets import pseudo_label_images, split_subsets


def test_split_sizes_and_partition():
    names = [f"img{i:02d}" for i in range(12)]
    result = split_subsets(names, 5, seed=0)
    assert len(result["morphology"]) == 5 and len(result["contrast"]) == 7
    assert sorted(result["morphology"] + result["contrast"]) == names


def test_split_is_deterministic_and_seeded():
    names = [f"img{i:02d}" for i in range(12)]
    assert split_subsets(names, 5, 0) == split_subsets(list(reversed(names)), 5, 0)
    assert split_subsets(names, 5, 0) != split_subsets(names, 5, 1)


def test_adding_a_file_moves_at_most_one_image():
    names = [f"img{i:02d}" for i in range(12)]
    before = set(split_subsets(names, 5, 0)["morphology"])
    for extra in ("new_a", "new_b", "zzz"):
        after = set(split_subsets(names + [extra], 5, 0)["morphology"])
        assert len(before - after) <= 1
        assert after - before <= {extra}


def test_small_stack_keeps_one_contrast_image():
    result = split_subsets(["a", "b", "c"], 5)
    assert len(result["morphology"]) == 2 and len(result["contrast"]) == 1


def test_split_errors():
    with pytest.raises(ValueError, match="at least 2"):
        split_subsets(["a"], 5)
    with pytest.raises(ValueError, match="unique"):
        split_subsets(["a", "a", "b"], 1)


def test_pseudo_label_images_are_the_morphology_subset_or_every_image():
    subsets = {"morphology": {"a": "x/a.png", "c": "x/c.png"}, "contrast": {"b": "x/b.png"}}
    assert pseudo_label_images(subsets, "morphology") == {"a": "x/a.png", "c": "x/c.png"}
    assert pseudo_label_images(subsets, "all") == {"a": "x/a.png", "b": "x/b.png", "c": "x/c.png"}
    with pytest.raises(ValueError, match="pseudo_labels"):
        pseudo_label_images(subsets, "contrast")
