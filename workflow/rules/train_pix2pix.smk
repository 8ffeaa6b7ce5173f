rule train_pix2pix:
    """Step 3: pix2pix mask -> image on (rough mask, image) pairs: learns the morphology."""
    input:
        subsets="results/{stack}/subsets.json",
        rough_masks="results/{stack}/rough_masks",
    output:
        generator="results/{stack}/pix2pix/generator.pt",
        losses="results/{stack}/pix2pix/losses.csv",
        checks=report("results/{stack}/checks/pix2pix.csv", caption="../report/checks.rst", category="{stack}",
                      subcategory="self-checks"),
    params:
        options=lambda w: stack_settings(w.stack, "pix2pix"),
        polarity=polarity,
        seed=config["seed"],
    threads: MAX_THREADS
    resources:
        gpu=1,
        mem_mb=GPU_MEM_MB,
    log:
        "logs/{stack}/train_pix2pix.log",
    benchmark:
        "benchmarks/{stack}/train_pix2pix.tsv"
    conda:
        ENV
    script:
        "../scripts/train_pix2pix.py"
