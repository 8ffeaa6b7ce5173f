"""The config as the workflow and `tgan watch` read it: the schema's defaults filled in (and only into the global
sections), the experimental section merged into its step, the option dataclasses' defaults from the schema, and the
settings that would do nothing refused (tgan.options)."""

import dataclasses
from pathlib import Path

import pytest
import yaml

from tgan.cli import load_config
from tgan.options import (NPsSegNetOptions, Pix2PixOptions, PSDOptions, SegmentOptions, defaults, from_dict,
                          schema, schema_defaults, stack_section, validate_config)

ROOT = Path(__file__).resolve().parents[1]


def test_an_empty_config_gets_every_default_of_the_schema():
    config = validate_config({"stacks": {}})
    assert config["seed"] == 0 and config["device"] == "auto" and config["max_threads"] == 8
    assert config["pix2pix"]["n_epochs"] == 100 and config["rough_masks"]["edge_level"] == 0.25
    assert config["experimental"]["npssegnet"] == {"pseudo_labels": "morphology", "ignore_band_px": 0,
                                                   "ema_decay": 0.0, "members": 1}
    assert "background" not in config["pix2pix"]  # experimental: not in the method's section
    assert config["self_checks"] == {"on_failure": "fallback"} and config["evaluate"]["folds"] == 5


def test_a_stacks_overrides_get_no_defaults_and_keep_the_global_settings():
    """A global value and a stack's override of another key of the same section: the stack runs with both (the
    defaults are not filled into its override section, which would reset the global value)."""
    config = validate_config({"stacks": {"s": {"images": "x", "pix2pix": {"lr": 0.001},
                                               "experimental": {"npssegnet": {"ema_decay": 0.5}}}},
                              "pix2pix": {"n_epochs": 7}, "experimental": {"npssegnet": {"members": 2}}})
    assert config["stacks"]["s"]["pix2pix"] == {"lr": 0.001}
    assert config["stacks"]["s"]["experimental"] == {"npssegnet": {"ema_decay": 0.5}, "adaptation_rounds": 0}
    pix2pix = stack_section(config, "s", "pix2pix")
    assert (pix2pix["n_epochs"], pix2pix["lr"], pix2pix["n_epochs_decay"]) == (7, 0.001, 50)
    npssegnet = stack_section(config, "s", "npssegnet")
    assert (npssegnet["members"], npssegnet["ema_decay"]) == (2, 0.5)
    assert stack_section(config, None, "npssegnet")["ema_decay"] == 0.0  # the global settings alone


def test_stack_level_defaults_are_one_copy_per_stack():
    config = validate_config({"stacks": {"a": {"images": "x"}, "b": {"images": "y"}}})
    assert config["stacks"]["a"]["polarity"] == "bright" and config["stacks"]["a"]["crop"] == {}
    config["stacks"]["a"]["crop"]["top"] = 3
    config["stacks"]["a"]["experimental"]["adaptation_rounds"] = 1
    assert config["stacks"]["b"]["crop"] == {} and config["stacks"]["b"]["experimental"]["adaptation_rounds"] == 0


def test_options_take_their_defaults_from_the_schema():
    assert dataclasses.asdict(Pix2PixOptions()) == defaults("pix2pix")
    assert dataclasses.asdict(NPsSegNetOptions()) == defaults("npssegnet")
    assert dataclasses.asdict(SegmentOptions()) == defaults("segment")
    assert dataclasses.asdict(PSDOptions()) == defaults("psd")
    top = schema()["properties"]
    assert SegmentOptions().tile == top["segment"]["properties"]["tile"]["default"]
    experimental = top["experimental"]["properties"]["npssegnet"]["properties"]
    assert NPsSegNetOptions().members == experimental["members"]["default"]
    assert NPsSegNetOptions(epochs=3).decoder_channels is not NPsSegNetOptions().decoder_channels  # no shared list


def test_an_option_without_a_default_in_the_schema_is_an_error():
    class Stray:
        tile: int
        overlap: int
        threshold: float
        max_pixels: int
        seed_depth: float
        made_up: int

    with pytest.raises(TypeError, match="made_up"):
        schema_defaults("segment")(Stray)


def test_the_cli_loads_what_the_workflow_runs():
    """tgan watch: config/config.yaml, the files, the schema's defaults; the options of each stage from it."""
    config = load_config([str(ROOT / "config" / "presets" / "cpu.yaml"), str(ROOT / "config" / "demo.yaml")])
    assert config["npssegnet"]["real_fraction"] == 0.5 and config["npssegnet"]["lr"] == 0.0003
    options = from_dict(NPsSegNetOptions, stack_section(config, "demo", "npssegnet"))
    assert (options.epochs, options.ignore_band_px, options.members) == (20, 0, 1)


def test_config_yaml_holds_no_setting():
    """The defaults live in the schema only; config/config.yaml holds the stacks and comparisons."""
    assert set(yaml.safe_load((ROOT / "config" / "config.yaml").read_text())) == {"stacks", "compare"}


@pytest.mark.parametrize("config, message", [
    ({"pix2pix": {"background": True}}, "pix2pix: background experimental: set under experimental: pix2pix"),
    ({"stacks": {"s": {"images": "x", "npssegnet": {"members": 3}}}},
     "stacks.s.npssegnet: members experimental: set under stacks.s.experimental: npssegnet"),
    ({"stacks": {"s": {"images": "x", "adaptation_rounds": 1}}}, "stacks.s.experimental: {adaptation_rounds: N}"),
])
def test_a_setting_that_moved_to_experimental_is_named_with_its_new_place(config, message):
    with pytest.raises(ValueError, match=message.replace("{", r"\{").replace("}", r"\}")):
        validate_config({"stacks": {}, **config})


@pytest.mark.parametrize("config, message", [
    ({"experimental": {"npssegnet": {"pseudo_labels": "all"}}},
     "experimental.npssegnet.pseudo_labels 'all' does nothing without npssegnet.real_fraction above 0"),
    ({"stacks": {"s": {"images": "x", "experimental": {"npssegnet": {"ignore_band_px": 1}}}}},
     "stack s: experimental.npssegnet.ignore_band_px 1 does nothing without npssegnet.real_fraction above 0"),
    ({"stacks": {"s": {"images": "x"}}, "experimental": {"npssegnet": {"ignore_band_px": 1}}},
     "experimental.npssegnet.ignore_band_px 1 does nothing without npssegnet.real_fraction above 0 .* in any stack"),
    ({"experimental": {"cyclegan": {"encoder": "resnet18"}}},
     "experimental.cyclegan.encoder 'resnet18' does nothing without experimental.cyclegan.discriminator unetplusplus"),
    ({"npssegnet": {"encoder_depth": 3}},
     "npssegnet.decoder_channels \\[256, 128, 64, 32, 16\\]: one entry per encoder stage, 3 with encoder_depth 3"),
    ({"stacks": {"s": {"images": "x", "pix2pix": {"decoder_channels": [32, 16, 8]}}}},
     "stack s: pix2pix.decoder_channels \\[32, 16, 8\\]: one entry per encoder stage, 5"),
    ({"rough_masks": {"from_stack": "t"}}, "rough_masks.from_stack 't' does nothing without rough_masks.method model"),
    ({"rough_masks": {"points_per_side": 16}}, "rough_masks.points_per_side 16 does nothing without rough_masks.method sam"),
    ({"stacks": {"s": {"images": "x", "segment": {"seed_depth": 0.3}}}},
     "stack s: segment.seed_depth 0.3 does nothing without npssegnet.instances distance"),
])
def test_a_setting_that_would_do_nothing_is_refused(config, message):
    with pytest.raises(ValueError, match=message):
        validate_config({"stacks": {}, **config})


def test_the_dependent_settings_are_accepted_where_they_act():
    """A stack's own setting where the stack's other settings use it; a global one where one stack uses it (the
    others leave it idle: it is the global setting of every stack)."""
    config = validate_config({
        "stacks": {"s": {"images": "x", "npssegnet": {"real_fraction": 0.5, "instances": "distance"},
                         "experimental": {"npssegnet": {"pseudo_labels": "all"}}, "segment": {"seed_depth": 0.3}},
                   "t": {"images": "y", "segment_with": "s", "segment": {"seed_depth": 0.2}},
                   "u": {"images": "z", "rough_masks": {"method": "sam"}}},
        "experimental": {"cyclegan": {"discriminator": "unetplusplus", "encoder": "resnet18"},
                         "npssegnet": {"ignore_band_px": 1}},
        "rough_masks": {"points_per_side": 16},
        "npssegnet": {"encoder_depth": 3, "decoder_channels": [64, 32, 16]}})
    assert stack_section(config, "s", "npssegnet")["pseudo_labels"] == "all"
    assert stack_section(config, "t", "cyclegan")["encoder"] == "resnet18"
    assert stack_section(config, "u", "rough_masks")["points_per_side"] == 16
