rule generate_gen2:
    """Step 7: 2nd generation = CycleGAN(gen1), paired with the synthetic masks (the virtual dataset)."""
    input:
        generator="results/{stack}/cyclegan/generator.pt",
        masks="results/{stack}/gen1",
    output:
        directory("results/{stack}/gen2"),
    params:
        settings=lambda w: stack_settings(w.stack, "segment"),
        device=config["device"],
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
