"""Bad inputs and config errors through Snakemake (the per-kind checks of bad inputs are
unit tests in test_validation.py; the resume of a killed training is in test_resume.py, reproducibility
in test_incremental.py)."""


import imageio.v3 as iio
import numpy as np
import pytest
import yaml

from workflow_helpers import make_stack, snakemake, write_config



def test_bad_files_stop_the_run_before_any_job_and_leave_nothing(tmp_path):
    make_stack(tmp_path / "s", "bright", seed=0, n_images=6)
    data = (tmp_path / "s" / "img1.png").read_bytes()
    (tmp_path / "s" / "img1.png").write_bytes(data[:len(data) // 2])  # a transfer cut short
    iio.imwrite(tmp_path / "s" / "blank.png", np.zeros((192, 192), np.uint8))
    config = write_config(tmp_path / "stacks.yaml", {"s": {"images": str(tmp_path / "s")}})
    result = snakemake(tmp_path, "--cores", "2", configs=[config])
    output = result.stdout + result.stderr
    assert result.returncode != 0
    # one message, on the console, naming each file and the reason
    assert "stack s: 2 of 7 images cannot be used" in output
    assert f"{tmp_path / 's' / 'img1.png'}: cannot read image (OSError: image file is truncated)" in output
    assert f"{tmp_path / 's' / 'blank.png'}: a constant image" in output
    assert "rule validate_inputs:" in output
    for rule in ("import_image", "split_subsets", "rough_masks", "train_pix2pix"):
        assert f"rule {rule}:" not in output
    assert [p for p in (tmp_path / "results").rglob("*") if p.is_file()] == []
    assert "img1.png: cannot read image" in (tmp_path / "logs/s/validate_inputs.log").read_text()


@pytest.mark.parametrize("settings, expected", [
    ({"npssegnet": {"epochs": "ten"}}, ["'ten' is not of type 'integer'", "instance['npssegnet']['epochs']"]),
    ({"stacks": {"s": {"npssegnet": {"epoch": 3}}}},
     ["'epoch' was unexpected", "instance['stacks']['s']['npssegnet']"]),
    ({"stacks": {"s": {"images": "nowhere"}}}, ["stacks.s.images: nowhere: image folder does not exist"]),
    ({"stacks": {"s": {"cyclegan": {"n_epochs": 0, "n_epochs_decay": 0}}}},
     ["stack s: cyclegan.n_epochs + cyclegan.n_epochs_decay is 0"]),
    ({"stacks": {"s": {"images": "empty"}}}, ["stacks.s.images: empty: no images"]),
])
def test_config_errors_name_the_key(tmp_path, settings, expected):
    make_stack(tmp_path / "s", "bright", seed=0)
    (tmp_path / "empty").mkdir()
    config = {"stacks": {"s": {"images": str(tmp_path / "s")}}}
    for section, values in settings.items():
        if section == "stacks":
            config["stacks"]["s"].update(values["s"])
        else:
            config[section] = values
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, "-n", configs=[tmp_path / "c.yaml"])
    assert result.returncode != 0
    for text in expected:
        assert text in result.stdout + result.stderr
