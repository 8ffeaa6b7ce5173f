rule psd:
    """Particle-size distribution of the stack: per-particle table, summaries, histogram (nm when calibrated);
    the summary names the method that made the masks, and why (the fallback ladder), and per image which mask
    answers it (NPsSegNet's or the rough mask) and how good it is believed to be. The overlays (the counted and
    the border particles outlined on each image, to judge the segmentation by eye) are drawn from the same
    particles, measured once."""
    input:
        segmentation="results/{stack}/segmentation",
        images=lambda w: list(stack_images(w.stack).values()),
        calibrations=lambda w: stack_calibrations(w.stack),
    output:
        particles=report("results/{stack}/psd/particles.csv", caption="../report/particles.rst",
                         category="{stack}", subcategory="particle-size distribution"),
        summary=report("results/{stack}/psd/summary.csv", caption="../report/summary.rst",
                       category="{stack}", subcategory="particle-size distribution"),
        histogram=report("results/{stack}/psd/histogram.png", caption="../report/histogram.rst",
                         category="{stack}", subcategory="particle-size distribution"),
        overlays=report(directory("results/{stack}/overlays"), patterns=["{image}.png"],
                        caption="../report/overlay.rst", category="{stack}", subcategory="overlays",
                        labels={"stack": "{stack}", "image": "{image}"}),
    params:
        settings=lambda w: stack_settings(w.stack, "psd"),
        seed=config["seed"],
    log:
        "logs/{stack}/psd.log",
    benchmark:
        "benchmarks/{stack}/psd.tsv"
    conda:
        ENV
    script:
        "../scripts/psd.py"
