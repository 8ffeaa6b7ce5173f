rule compare:
    """The PSDs of two or more stacks (config compare: NAME: [stacks]), each set against the first: overlaid
    histograms and cumulative distributions with bootstrap bands, the D50 shift with its interval (images
    resampled), a Mann-Whitney U test, and a verdict."""
    input:
        particles=lambda w: expand("results/{stack}/psd/particles.csv", stack=COMPARISONS[w.name]),
        summaries=lambda w: expand("results/{stack}/psd/summary.csv", stack=COMPARISONS[w.name]),
    output:
        table=report("results/compare/{name}/compare.csv", caption="../report/compare.rst", category="comparisons",
                     labels={"comparison": "{name}", "file": "table"}),
        figure=report("results/compare/{name}/compare.png", caption="../report/compare.rst", category="comparisons",
                      labels={"comparison": "{name}", "file": "figure"}),
    params:
        stacks=lambda w: COMPARISONS[w.name],
        replicates=config["psd"]["bootstrap"],
        seed=config["seed"],
    wildcard_constraints:
        name="|".join(re.escape(name) for name in COMPARISONS) or "(?!)",
    log:
        "logs/compare/{name}.log",
    benchmark:
        "benchmarks/compare/{name}.tsv"
    conda:
        ENV
    script:
        "../scripts/compare.py"
