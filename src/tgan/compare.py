"""Comparing the particle-size distributions of two or more stacks: did the particles grow?

A sintering series, a catalyst before and after reaction, two syntheses: the question is whether the sizes of one
stack differ from another's, and by how much. Every stack is set against the first one named (the reference), with

- the shift of its D50 from the reference's (in the unit, and in % of the reference's D50) with a 95 % bootstrap
  interval that resamples each stack as `psd` resamples it for the stack's own interval: whole images from
  MIN_IMAGES images on, since the particles of one image share its focus, threshold and region of the sample;
- a two-sample test on the particles' diameters: Mann-Whitney U (`two_sample_test` says why that one), with its
  p-value adjusted for the number of stacks set against the reference (Holm);
- a verdict: `larger` or `smaller` only when both say so (the interval of the shift leaves out 0 and the adjusted
  p-value is below 5 %), else `not shown to differ`. The test counts every particle as independent and so
  overstates its confidence when the images of a stack differ (simulated stacks of one population whose images
  differ by 10 % in median: p < 0.05 in 113 of 200 pairs); the interval does not (11 of 200 verdicts), hence both.

Each stack's own figures (count, D50 and its interval) are those of its `psd/summary.csv` (the `ALL` row), so the
table repeats what `psd` wrote; the particles it was computed from (`psd/particles.csv`) must give the same D50.
"""

from __future__ import annotations

import logging
import zlib

import numpy as np
import pandas as pd
from scipy import stats

from .psd import ALL_IMAGES, CONFIDENCE, bootstrap_stats, distribution_stats, widening

# A verdict needs the two-sample test's adjusted p-value below this (and the shift's interval to leave out 0).
ALPHA = 1 - CONFIDENCE
TEST = "Mann-Whitney U"
NOT_SHOWN = "not shown to differ"
SHIFT_COLUMNS = ["d50_shift", "d50_shift_lo", "d50_shift_hi", "d50_shift_pct", "d50_shift_pct_lo", "d50_shift_pct_hi",
                 "u_statistic", "p_larger", "p_value"]
log = logging.getLogger(__name__)


def comparison_unit(summaries: dict[str, pd.Series]) -> str:
    """nm when every stack is calibrated (its ALL row has a D50 in nm), else px: a stack measured in px cannot be
    set against one in nm, and px compare only at the same magnification."""
    return "nm" if all(np.isfinite(row["diameter_nm_d50"]) for row in summaries.values()) else "px"


def used_particles(particles: pd.DataFrame, unit: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(diameters, weights, particles per image) of the particles in a stack's statistics (weight > 0, the
    counting rule `psd.border` gave them), in image order, as `psd.summarise` takes them."""
    used = particles[particles["weight"] > 0].sort_values("image", kind="stable")
    sizes = used.groupby("image", sort=False).size().to_numpy()
    return used[f"diameter_{unit}"].to_numpy(float), used["weight"].to_numpy(float), sizes


def two_sample_test(diameters: np.ndarray, reference: np.ndarray) -> tuple[float, float, float]:
    """(U statistic, p-value, probability that a particle of `diameters` is larger than one of `reference`, ties
    counting half) of the two-sided Mann-Whitney U test.

    Mann-Whitney rather than Kolmogorov-Smirnov: the question is whether particles grew or shrank, a shift of the
    distribution, which Mann-Whitney is built to find and finds with more power than KS, which spends it on any
    difference of shape; it gives a size of the effect that reads without a unit (P(larger), 0.5 for none); and
    it corrects for ties, which pixel-counted diameters are full of, where KS's p-value assumes continuous data.
    Particles are taken unweighted (a `psd.border: correct` weight is not a count the test knows) and as
    independent, which they are not quite: hence the verdict also asks for the shift's interval.
    """
    result = stats.mannwhitneyu(diameters, reference, alternative="two-sided")
    return float(result.statistic), float(result.pvalue), float(result.statistic) / (diameters.size * reference.size)


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment of p-values (NaN kept): several stacks set against one reference are several
    tests, and at 5 % each one of four stacks of the same population would be called different one time in five."""
    p = np.asarray(p_values, float)
    finite = np.flatnonzero(np.isfinite(p))
    order = finite[np.argsort(p[finite])]
    adjusted = np.maximum.accumulate(p[order] * (len(order) - np.arange(len(order))))
    out = p.copy()
    out[order] = np.minimum(adjusted, 1.0)
    return out.tolist()


def d50_replicates(diameters: np.ndarray, weights: np.ndarray, sizes: np.ndarray, replicates: int,
                   rng: np.random.Generator) -> tuple[float, np.ndarray]:
    """(D50, its bootstrap replicates widened about it) of one stack: the replicates of `psd.bootstrap_stats`
    (images resampled from MIN_IMAGES images on), spread by `psd.widening` as the stack's own interval is, so that
    the interval of a difference of two stacks is as wide as their own intervals make it."""
    d50 = float(distribution_stats(np.ones((1, diameters.size), int), diameters, weights)["d50"][0])
    drawn = bootstrap_stats(sizes, diameters, weights, replicates, rng)["d50"]
    return d50, d50 + widening(len(sizes)) * (drawn - d50)


def _rng(seed: int, stack: str) -> np.random.Generator:
    """A generator of the stack's own: its replicates do not move when another stack joins the comparison."""
    return np.random.default_rng([seed, zlib.crc32(f"compare {stack}".encode())])


def compare_stacks(name: str, particles: dict[str, pd.DataFrame], summaries: dict[str, pd.Series],
                   replicates: int = 1000, seed: int = 0) -> pd.DataFrame:
    """One row per stack (in the order given, the first the reference) of comparison `name`: its count, the images
    its particles come from, D50 and interval (from `summaries`, each stack's ALL row of psd/summary.csv), and for
    every stack but the reference its D50 shift from the reference with its 95 % bootstrap interval (`replicates`
    resamples, seeded), in the unit and in %, the two-sample test with its Holm-adjusted p-value, and the verdict
    (module docstring).

    particles: each stack's psd/particles.csv. Raises ValueError, naming the stack, when a stack's particles do not
    give its summary's D50 (files of two different psd runs)."""
    stacks = list(particles)
    unit = comparison_unit(summaries)
    if unit == "px":
        log.warning("comparison %s in px: not every stack is calibrated; px compare only at the same magnification",
                    name)
    data, boot = {}, {}
    tail = 50 * (1 - CONFIDENCE)
    for stack in stacks:
        data[stack] = used_particles(particles[stack], unit)
        if data[stack][0].size == 0:
            continue
        d50, boot[stack] = d50_replicates(*data[stack], replicates, _rng(seed, stack))
        if not np.isclose(d50, summaries[stack][f"diameter_{unit}_d50"], rtol=1e-6):
            raise ValueError(f"stack {stack}: psd/particles.csv gives a D50 of {d50:.6g} {unit}, psd/summary.csv "
                             f"{summaries[stack][f'diameter_{unit}_d50']:.6g}: the two files come from different psd "
                             "runs; run psd again")
    reference = stacks[0]
    rows = []
    for stack in stacks:
        row = summaries[stack]
        out = {"comparison": name, "stack": stack, "reference": reference, "unit": unit,
               "images": len(data[stack][2]), "count": int(row["count"]),
               **{f"d50{end}": float(row[f"diameter_{unit}_d50{end}"]) for end in ("", "_lo", "_hi")},
               **dict.fromkeys(SHIFT_COLUMNS, np.nan), "test": "", "verdict": "reference"}
        if stack != reference:
            out["verdict"] = "too few particles"
        if stack != reference and min(data[stack][0].size, data[reference][0].size) >= 2:
            ref_d50 = summaries[reference][f"diameter_{unit}_d50"]
            u, p, larger = two_sample_test(data[stack][0], data[reference][0])
            lo, hi = np.percentile(boot[stack] - boot[reference], [tail, 100 - tail])
            pct_lo, pct_hi = 100 * (np.percentile(boot[stack] / boot[reference], [tail, 100 - tail]) - 1)
            out |= {"d50_shift": out["d50"] - ref_d50, "d50_shift_lo": lo, "d50_shift_hi": hi,
                    "d50_shift_pct": 100 * (out["d50"] / ref_d50 - 1), "d50_shift_pct_lo": pct_lo,
                    "d50_shift_pct_hi": pct_hi, "u_statistic": u, "p_larger": larger, "p_value": p, "test": TEST,
                    "verdict": None}
        rows.append(out)
    table = pd.DataFrame(rows)
    table["p_value_holm"] = holm(table["p_value"].tolist())
    tested = table["verdict"].isna()
    table.loc[tested, "verdict"] = [verdict(*values) for values in
                                    table.loc[tested, ["d50_shift_lo", "d50_shift_hi", "p_value_holm", "p_larger"]]
                                    .itertuples(index=False)]
    return table[[c for c in table.columns if c not in ("test", "verdict")] + ["test", "verdict"]]


def verdict(lo: float, hi: float, p: float, p_larger: float) -> str:
    """larger or smaller when the shift's interval leaves out 0 and the test agrees (adjusted p below ALPHA, in
    the same direction); else not shown to differ."""
    if p < ALPHA and lo > 0 and p_larger > 0.5:
        return "larger"
    if p < ALPHA and hi < 0 and p_larger < 0.5:
        return "smaller"
    return NOT_SHOWN


def summary_line(row: pd.Series) -> str:
    """One line of the log (and of the figure) for a row of `compare_stacks`."""
    unit = row["unit"]
    head = f"{row['stack']}: D50 {row['d50']:.4g} {unit} [{row['d50_lo']:.4g}, {row['d50_hi']:.4g}], n = {row['count']}"
    if row["verdict"] in ("reference", "too few particles"):
        return f"{head} ({row['verdict']})"
    return (f"{head}; shift from {row['reference']} {row['d50_shift']:+.3g} {unit} [{row['d50_shift_lo']:+.3g}, "
            f"{row['d50_shift_hi']:+.3g}] ({row['d50_shift_pct']:+.1f} % [{row['d50_shift_pct_lo']:+.1f}, "
            f"{row['d50_shift_pct_hi']:+.1f}]); {row['test']} p = {row['p_value_holm']:.2g} (Holm), "
            f"P(larger) = {row['p_larger']:.2f}: {row['verdict']}")


def read_summary_row(path, stack: str) -> pd.Series:
    """The stack's row (ALL) of its psd/summary.csv; ValueError naming the file when it has none."""
    summary = pd.read_csv(path)
    rows = summary[summary["image"] == ALL_IMAGES]
    if rows.empty:
        raise ValueError(f"{path}: no {ALL_IMAGES} row (the stack {stack}'s summary); run psd again")
    return rows.iloc[0]
