rule split_subsets:
    """Step 1: seeded split of a stack into the morphology and contrast subsets."""
    input:
        images=lambda w: list(stack_images(w.stack).values()),
    output:
        "results/{stack}/subsets.json",
    params:
        images=lambda w: stack_images(w.stack),
        settings=lambda w: stack_settings(w.stack, "split_subsets"),
        seed=config["seed"],
    log:
        "logs/{stack}/split_subsets.log",
    conda:
        ENV
    script:
        "../scripts/split_subsets.py"
