rule train_cyclegan:
    """Step 6: CycleGAN between gen1 and the contrast subset: learns real contrast and noise. Not trained on a
    gen1 that failed its check (fallback: generator.pt records the skip; stop: the stack stops here)."""
    input:
        subsets="results/{stack}/subsets.json",
        gen1="results/{stack}/gen1",
        gen1_check="results/{stack}/checks/gen1.csv",
    output:
        generator="results/{stack}/cyclegan/generator.pt",
        losses="results/{stack}/cyclegan/losses.csv",
    params:
        options=cyclegan_settings,
        on_failure=config["self_checks"]["on_failure"],
        seed=config["seed"],
    threads: MAX_THREADS
    resources:
        gpu=1,
        mem_mb=GPU_MEM_MB,
    log:
        "logs/{stack}/train_cyclegan.log",
    benchmark:
        "benchmarks/{stack}/train_cyclegan.tsv"
    conda:
        ENV
    script:
        "../scripts/train_cyclegan.py"
