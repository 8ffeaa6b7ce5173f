rule generate_gen1:
    """Step 5: 1st generation images = pix2pix(synthetic masks). Reads pix2pix's check first: a failed pix2pix
    stops the stack here (self_checks.on_failure stop) or is left out (fallback: gen1 empty, its check file says
    why)."""
    input:
        generator="results/{stack}/pix2pix/generator.pt",
        masks="results/{stack}/synthetic_masks",
        reference="results/{stack}/checks/pix2pix.csv",  # pix2pix's check, and the real images' figures
        # the real supports pix2pix.background draws on
        subsets="results/{stack}/subsets.json",
        rough_masks="results/{stack}/rough_masks",
    output:
        images=directory("results/{stack}/gen1"),
        checks=report("results/{stack}/checks/gen1.csv", caption="../report/checks.rst", category="{stack}",
                      subcategory="self-checks"),
    params:
        polarity=polarity,
        on_failure=config["self_checks"]["on_failure"],
        seed=config["seed"],
    threads: MAX_THREADS
    resources:
        gpu=1,
        mem_mb=GPU_MEM_MB,
    log:
        "logs/{stack}/generate_gen1.log",
    benchmark:
        "benchmarks/{stack}/generate_gen1.tsv"
    conda:
        ENV
    script:
        "../scripts/generate.py"
