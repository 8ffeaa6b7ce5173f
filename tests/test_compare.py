"""Comparing stacks' PSDs (tgan.compare) on synthetic particle tables drawn from known log-normal populations, and
the compare rule through Snakemake."""

import imageio.v3 as iio
import numpy as np
import pandas as pd
import pytest

from tgan.compare import NOT_SHOWN, compare_stacks, holm, read_summary_row, summary_line
from tgan.figures import STACK_COLOURS, compare_figure
from tgan.psd import ALL_IMAGES, summarise
from workflow_helpers import make_stack, snakemake, write_config

D50_NM = 10.0
SEEDS = range(20)


def stack_table(seed: int, scale: float = 1.0, images: int = 10, per_image: int = 100, sigma: float = 0.3,
                image_sd: float = 0.0, pixel_size_nm: float | None = 0.5) -> tuple[pd.DataFrame, pd.Series]:
    """(particles, the ALL row of their summary) of a stack whose images draw log-normal diameters of median
    scale x D50_NM; with image_sd, each image's median differs from the stack's by that much in ln d (images of
    one sample that differ in focus, threshold or region)."""
    rng = np.random.default_rng(seed)
    tables = []
    for k in range(images):
        d_nm = rng.lognormal(np.log(scale * D50_NM) + rng.normal(0, image_sd), sigma, per_image)
        nm_per_px = pixel_size_nm or 0.5
        tables.append(pd.DataFrame({"image": f"img{k}", "diameter_px": d_nm / nm_per_px,
                                    "diameter_nm": d_nm if pixel_size_nm else np.nan, "weight": 1.0,
                                    "touches_border": False, "under_resolved": False}))
    particles = pd.concat(tables, ignore_index=True)
    fields = {f"img{k}": ((512, 512), pixel_size_nm) for k in range(images)}
    return particles, summarise(particles, fields, "s", 100, seed).set_index("image").loc[ALL_IMAGES]


def compared(seed: int, scale: float, image_sd: float = 0.0) -> pd.Series:
    """The row of stack `b` (scale x the D50 of the reference `a`) of their comparison."""
    a, summary_a = stack_table(2 * seed, image_sd=image_sd)
    b, summary_b = stack_table(2 * seed + 1, scale, image_sd=image_sd)
    return compare_stacks("growth", {"a": a, "b": b}, {"a": summary_a, "b": summary_b}, 300, seed).iloc[1]


def test_a_population_20_percent_larger_is_found_larger_with_an_interval_that_leaves_out_0():
    rows = [compared(seed, 1.2) for seed in SEEDS]
    assert all(r["verdict"] == "larger" and r["d50_shift_lo"] > 0 and r["d50_shift_pct_lo"] > 0 for r in rows)
    assert all(r["p_value"] < 1e-6 and r["p_larger"] > 0.6 for r in rows)
    assert np.median([r["d50_shift_pct"] for r in rows]) == pytest.approx(20, abs=3)
    # the interval of the shift holds the true +20 % (+2 nm) about as often as a 95 % interval should
    assert sum(r["d50_shift_pct_lo"] <= 20 <= r["d50_shift_pct_hi"] for r in rows) >= 17
    assert sum(r["d50_shift_lo"] <= 0.2 * D50_NM <= r["d50_shift_hi"] for r in rows) >= 17


def test_two_draws_of_one_population_are_not_called_different_at_5_percent():
    rows = [compared(seed, 1.0) for seed in SEEDS]
    assert sum(r["p_value"] < 0.05 for r in rows) <= 3  # 1 of 20 expected at 5 %
    assert sum(r["verdict"] == NOT_SHOWN for r in rows) >= 18
    assert sum(r["d50_shift_lo"] <= 0 <= r["d50_shift_hi"] for r in rows) >= 17


def test_when_images_differ_the_test_alone_is_overconfident_and_the_verdict_is_not():
    """Images of one population whose medians differ by 10 % (ln d sd 0.1): the particle-level test calls two
    such stacks different far more often than 5 %, as it counts every particle as independent; the verdict, which
    also needs the image-resampled interval of the shift to leave out 0, does not. Why both are asked."""
    rows = [compared(seed, 1.0, image_sd=0.1) for seed in SEEDS]
    assert sum(r["p_value"] < 0.05 for r in rows) >= 8
    assert sum(r["verdict"] == NOT_SHOWN for r in rows) >= 18


def test_three_stacks_are_each_set_against_the_first_with_holm_adjusted_p_values():
    (a, sa), (b, sb), (c, sc) = stack_table(0), stack_table(1, 0.8), stack_table(2, 1.0)
    table = compare_stacks("series", {"before": a, "smaller": b, "same": c},
                           {"before": sa, "smaller": sb, "same": sc}, 300, 0)
    assert table["stack"].tolist() == ["before", "smaller", "same"] and set(table["reference"]) == {"before"}
    assert table["verdict"].tolist() == ["reference", "smaller", NOT_SHOWN]
    assert table["unit"].tolist() == ["nm"] * 3 and table["count"].tolist() == [1000] * 3
    assert table["images"].tolist() == [10] * 3
    assert table.loc[0, "d50"] == sa["diameter_nm_d50"] and table.loc[1, "d50_lo"] == sb["diameter_nm_d50_lo"]
    assert table.loc[1, "d50_shift"] == pytest.approx(sb["diameter_nm_d50"] - sa["diameter_nm_d50"])
    assert table.loc[1, "d50_shift_hi"] < 0 and table.loc[1, "p_larger"] < 0.4
    assert table.loc[0, ["d50_shift", "p_value", "p_value_holm"]].isna().all()
    assert table.loc[1:, "p_value_holm"].tolist() == holm(table.loc[1:, "p_value"].tolist())
    assert table.loc[2, "p_value_holm"] >= table.loc[2, "p_value"]
    assert "shift from before" in summary_line(table.iloc[1]) and summary_line(table.iloc[1]).endswith(": smaller")


def test_holm_adjusts_the_smallest_p_value_most_and_keeps_the_order():
    assert holm([0.01, 0.04, 0.03, np.nan])[:3] == pytest.approx([0.03, 0.06, 0.06])
    assert np.isnan(holm([0.01, np.nan])[1]) and holm([0.5, 0.6]) == [1.0, 1.0]


def test_stacks_not_all_calibrated_are_compared_in_px():
    (a, sa), (b, sb) = stack_table(0), stack_table(1, 1.2, pixel_size_nm=None)
    table = compare_stacks("mixed", {"a": a, "b": b}, {"a": sa, "b": sb}, 300, 0)
    assert table["unit"].tolist() == ["px", "px"] and table.loc[1, "d50"] == sb["diameter_px_d50"]
    assert table.loc[1, "verdict"] == "larger"


def test_particles_and_summary_of_different_psd_runs_are_refused_naming_the_stack():
    (a, sa), (b, _), (_, sc) = stack_table(0), stack_table(1), stack_table(2)
    with pytest.raises(ValueError, match="stack b: psd/particles.csv gives a D50 of .* nm, psd/summary.csv"):
        compare_stacks("x", {"a": a, "b": b}, {"a": sa, "b": sc}, 100, 0)


def test_a_stack_without_particles_is_compared_as_too_few(tmp_path):
    (a, sa), (b, sb) = stack_table(0), stack_table(1)
    empty = b.iloc[:0]
    summary = sb.copy()
    summary[["count", "diameter_nm_d50", "diameter_nm_d50_lo", "diameter_nm_d50_hi"]] = [0, np.nan, np.nan, np.nan]
    table = compare_stacks("x", {"a": a, "b": empty}, {"a": sa, "b": summary}, 100, 0)
    assert table["unit"].tolist() == ["px", "px"]  # no D50 in nm for b
    assert table.loc[1, "verdict"] == "too few particles" and np.isnan(table.loc[1, "d50_shift"])


def test_figure_overlays_the_stacks_in_their_colours(tmp_path):
    (a, sa), (b, sb) = stack_table(0), stack_table(1, 1.2)
    particles = {"before": a, "after": b}
    table = compare_stacks("growth", particles, {"before": sa, "after": sb}, 200, 0)
    compare_figure(particles, table, tmp_path / "compare.png", "growth", 200, 0)
    rgb = iio.imread(tmp_path / "compare.png")[..., :3].reshape(-1, 3).astype(int)
    for colour in STACK_COLOURS[:2]:
        target = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(rgb - target).sum(axis=1) <= 6).sum() > 300  # the stack's step lines and points


def test_summary_row_is_read_and_a_summary_without_one_is_named(tmp_path):
    _, summary = stack_table(0)
    pd.DataFrame([summary.rename("x")]).assign(image=["img0"]).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match=f"{tmp_path / 'bad.csv'}: no ALL row"):
        read_summary_row(tmp_path / "bad.csv", "s")
    pd.DataFrame([summary]).assign(image=[ALL_IMAGES]).to_csv(tmp_path / "good.csv", index=False)
    assert read_summary_row(tmp_path / "good.csv", "s")["diameter_nm_d50"] == pytest.approx(summary["diameter_nm_d50"])


# The compare rule through Snakemake.

def two_stacks(tmp_path, comparisons) -> object:
    make_stack(tmp_path / "s1", "bright", seed=0)
    make_stack(tmp_path / "s2", "bright", seed=5)
    config = write_config(tmp_path / "stacks.yaml", {"s1": {"images": str(tmp_path / "s1")},
                                                     "s2": {"images": str(tmp_path / "s2")}})
    with config.open("a") as f:
        f.write(f"compare: {comparisons}\n")
    return config


def test_default_target_compares_the_configured_stacks(tmp_path):
    config = two_stacks(tmp_path, "{growth: [s1, s2]}")
    result = snakemake(tmp_path, "-n", configs=[config])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    plan = " ".join(result.stdout.split())
    assert "rule compare:" in result.stdout and "compare 1" in plan
    assert "input: results/s1/psd/particles.csv, results/s2/psd/particles.csv, results/s1/psd/summary.csv, " \
           "results/s2/psd/summary.csv" in plan
    assert "output: results/compare/growth/compare.csv, results/compare/growth/compare.png" in plan
    without = snakemake(tmp_path, "-n", configs=[two_stacks(tmp_path / "none", "{}")])
    assert without.returncode == 0 and "rule compare:" not in without.stdout


def test_compare_rule_writes_table_and_figure_from_the_stacks_psd(tmp_path):
    """The compare job alone (--allowed-rules), on psd outputs written here as the psd rule writes them."""
    config = two_stacks(tmp_path, "{growth: [s1, s2]}")
    for stack, seed, scale in (("s1", 0, 1.0), ("s2", 1, 1.3)):
        particles, _ = stack_table(seed, scale)
        fields = {f"img{k}": ((512, 512), 0.5) for k in range(10)}
        (tmp_path / "results" / stack / "psd").mkdir(parents=True)
        particles.to_csv(tmp_path / "results" / stack / "psd" / "particles.csv", index=False)
        summarise(particles, fields, stack, 100, 0).to_csv(tmp_path / "results" / stack / "psd" / "summary.csv",
                                                          index=False)
    result = snakemake(tmp_path, "--cores", "1", "results/compare/growth/compare.csv", "--allowed-rules", "compare",
                       configs=[config])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    table = pd.read_csv(tmp_path / "results/compare/growth/compare.csv")
    assert table["stack"].tolist() == ["s1", "s2"] and table["verdict"].tolist() == ["reference", "larger"]
    assert table.loc[1, "d50_shift_pct_lo"] > 15
    assert iio.imread(tmp_path / "results/compare/growth/compare.png").shape[1] > 1000
    log = (tmp_path / "logs/compare/growth.log").read_text()
    assert "s2: D50" in log and "shift from s1" in log and ": larger" in log


@pytest.mark.parametrize("comparisons, message", [
    ("{growth: [s1, s9]}", "compare.growth: s9 is not a configured stack"),
    ("{growth: [s1]}", "['s1'] is too short"),  # the schema: at least two stacks
])
def test_compare_errors_name_the_key(tmp_path, comparisons, message):
    result = snakemake(tmp_path, "-n", configs=[two_stacks(tmp_path, comparisons)])
    assert result.returncode != 0 and message in result.stdout + result.stderr
