rule generate_gen1:
    """Step 5: 1st generation images = pix2pix(synthetic masks)."""
    input:
        generator="results/{stack}/pix2pix/generator.pt",
        masks="results/{stack}/synthetic_masks",
    output:
        directory("results/{stack}/gen1"),
    params:
        settings=lambda w: stack_settings(w.stack, "segment"),
        device=config["device"],
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
