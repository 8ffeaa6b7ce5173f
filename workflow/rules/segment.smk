rule segment:
    """Step 8b: segment one real image of the stack with its NPsSegNet, or with the NPsSegNet of the stack
    named by its segment_with (tiled, any size)."""
    input:
        image="results/{stack}/images/{image}.png",
        model=lambda w: npssegnet_model(w.stack),
    output:
        "results/{stack}/segmentation/{image}.png",
    params:
        settings=lambda w: stack_settings(w.stack, "segment"),
        device=config["device"],
    # one thread: a stack has many images, and Snakemake then runs as many segment jobs at once as there
    # are cores, which beats threads inside one job (each job spends seconds starting Python and torch)
    threads: 1
    resources:
        gpu=1,
        mem_mb=GPU_MEM_MB,
    log:
        "logs/{stack}/segment/{image}.log",
    benchmark:
        "benchmarks/{stack}/segment/{image}.tsv"
    conda:
        ENV
    script:
        "../scripts/segment.py"
