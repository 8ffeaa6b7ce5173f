"""The CPU-time estimate a run prints at its start (tgan.runtime)."""

from pathlib import Path

import pytest

from tgan.cli import load_config
from tgan.options import validate_config
from tgan.runtime import STEP_SECONDS, WARN_HOURS, chains, cpu_warning, stack_hours, training_steps

ROOT = Path(__file__).resolve().parents[1]
PRESET = ROOT / "config" / "presets" / "cpu.yaml"


def paper(stacks: dict) -> dict:
    """The paper settings (config/config.yaml) with these stacks."""
    config = load_config([])
    config["stacks"] = stacks
    return validate_config(config)


def test_paper_steps_are_epochs_times_crops_over_batch():
    steps = training_steps(paper({"s": {"images": "x"}}), "s")
    # (100 + 50) epochs x 200 crops / 4 per batch; 150 epochs x 2000 virtual images / 4
    assert steps == {"pix2pix": 7500, "cyclegan": 7500, "npssegnet": 75000}


def test_hours_follow_the_pixels_of_a_batch_and_the_members():
    base = stack_hours(paper({"s": {"images": "x"}}), "s")
    assert base["cyclegan"] == pytest.approx(7500 * STEP_SECONDS["cyclegan"] / 3600)
    half = stack_hours(paper({"s": {"images": "x", "cyclegan": {"crop_size": 256},
                                    "experimental": {"npssegnet": {"members": 3}}}}), "s")
    assert half["cyclegan"] == pytest.approx(base["cyclegan"] / 4)
    assert half["npssegnet"] == pytest.approx(base["npssegnet"] * 3)
    assert half["pix2pix"] == pytest.approx(base["pix2pix"])


def test_a_stack_trains_one_chain_per_round_and_one_with_segment_with_none():
    stacks = {"a": {"images": "x", "experimental": {"adaptation_rounds": 2}}, "b": {"images": "y", "segment_with": "a"},
              "c_round1": {"images": "z"}}
    assert chains(paper(stacks)) == {"a": 3, "c_round1": 1}


def test_paper_settings_on_a_cpu_say_how_long_and_name_the_preset():
    config = paper({"one": {"images": "x"}, "two": {"images": "y"}})
    message = cpu_warning(config, on_cpu=True)
    hours = sum(stack_hours(config, "one").values())
    assert hours > 24 * 7  # weeks, not hours
    assert f"about {2 * hours / 24:,.0f} days" in message
    assert "for 2 stack(s)" in message
    assert "snakemake --configfile config/presets/cpu.yaml my_stacks.yaml" in message
    assert cpu_warning(config, on_cpu=False) is None


def test_the_cpu_preset_is_not_warned_about():
    config = load_config([str(PRESET), str(ROOT / "config" / "demo.yaml")])
    assert 0 < sum(stack_hours(config, "demo").values()) < WARN_HOURS
    assert cpu_warning(config, on_cpu=True) is None
