rule synthesize_masks:
    """Step 4: random masks with particle statistics fitted to the rough masks, binary and as instance labels."""
    input:
        rough_masks="results/{stack}/rough_masks",
        subsets="results/{stack}/subsets.json",
    output:
        masks=directory("results/{stack}/synthetic_masks"),
        instances=directory("results/{stack}/synthetic_instances"),
        statistics="results/{stack}/synthetic_masks.json",
    params:
        settings=lambda w: stack_settings(w.stack, "synthesize_masks"),
        seed=config["seed"],
    log:
        "logs/{stack}/synthesize_masks.log",
    benchmark:
        "benchmarks/{stack}/synthesize_masks.tsv"
    conda:
        ENV
    script:
        "../scripts/synthesize_masks.py"
