"""Coverage of the PSD summary's 95 % bootstrap intervals (src/tgan/psd.py `intervals`) on simulated stacks.

Each stack is drawn from a known log-normal population (D50 20, sigma of ln d 0.4): `images` images of equal
particle counts, each image's ln d shifted by a normal offset of sd `tau` (0: homogeneous images; 0.1: images
that differ as real fields of view do). The population's D10/D50/D90 and mean are known, so the share of
stacks whose interval holds them is the coverage (a 95 % interval should cover in ~95 % of stacks; the
binomial sd at 500 stacks is 1 %). Run: python bench/psd_coverage.py [--stacks 500] [--resamples 1000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from tgan.psd import distribution_stats, intervals  # noqa: E402

MU, SIGMA = np.log(20.0), 0.4


def coverage(particles: int, images: int, tau: float, stacks: int, resamples: int, seed: int = 0) -> dict:
    rng = np.random.default_rng([seed, particles, images, int(tau * 1000)])
    spread = np.hypot(SIGMA, tau)  # the population's sigma: within-image and between-image spread
    truth = {"d10": np.exp(MU + spread * stats.norm.ppf(0.1)), "d50": np.exp(MU),
             "d90": np.exp(MU + spread * stats.norm.ppf(0.9)), "mean": np.exp(MU + spread ** 2 / 2)}
    sizes = np.full(images, particles // images)
    hits = {k: 0 for k in truth}
    width = []
    for _ in range(stacks):
        d = np.exp(MU + np.repeat(rng.normal(0, tau, images), sizes) + rng.normal(0, SIGMA, sizes.sum()))
        w = np.ones_like(d)
        point = {k: float(v[0]) for k, v in distribution_stats(np.ones((1, d.size), int), d, w).items()}
        ci = intervals(sizes, d, w, resamples, rng, point)
        for k in truth:
            hits[k] += ci[k][0] <= truth[k] <= ci[k][1]
        width.append((ci["d50"][1] - ci["d50"][0]) / 2 / point["d50"])
    return {k: v / stacks for k, v in hits.items()} | {"d50_halfwidth": float(np.mean(width))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stacks", type=int, default=500)
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()
    print(f"{args.stacks} stacks per line, {args.resamples} resamples; coverage of the 95 % intervals")
    print(f"{'particles':>9} {'images':>6} {'tau':>4}  {'D10':>5} {'D50':>5} {'D90':>5} {'mean':>5}  D50 +-   time")
    for particles, images, tau in [(50, 1, 0.0), (2000, 1, 0.0), (50, 10, 0.0), (2000, 10, 0.0),
                                   (50, 10, 0.1), (2000, 10, 0.1)]:
        start = time.time()
        c = coverage(particles, images, tau, args.stacks, args.resamples)
        print(f"{particles:>9} {images:>6} {tau:>4}  {c['d10']:.3f} {c['d50']:.3f} {c['d90']:.3f} {c['mean']:.3f}"
              f"  {c['d50_halfwidth']:.1%}  {time.time() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
