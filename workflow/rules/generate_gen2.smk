rule generate_gen2:
    """Step 7: 2nd generation = CycleGAN(gen1), paired with the synthetic masks (the virtual dataset); empty when
    the CycleGAN was skipped (its check file says why)."""
    input:
        generator="results/{stack}/cyclegan/generator.pt",
        masks="results/{stack}/gen1",
        synthetic_masks="results/{stack}/synthetic_masks",
    output:
        images=directory("results/{stack}/gen2"),
        checks=report("results/{stack}/checks/gen2.csv", caption="../report/checks.rst", category="{stack}",
                      subcategory="self-checks"),
    params:
        polarity=polarity,
    threads: MAX_THREADS
    resources:
        gpu=1,
        mem_mb=GPU_MEM_MB,
    log:
        "logs/{stack}/generate_gen2.log",
    benchmark:
        "benchmarks/{stack}/generate_gen2.tsv"
    conda:
        ENV
    script:
        "../scripts/generate.py"
