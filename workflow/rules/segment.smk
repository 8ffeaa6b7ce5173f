checkpoint segment:
    """Step 8b: segment every image of the stack with its NPsSegNet, or with the NPsSegNet of the stack named by
    its segment_with, in one job: the model is loaded once, and each image costs one forward pass (whole image,
    tiles only when it is too large) instead of seconds of Python and torch start-up. A checkpoint, so that the
    per-image rules downstream (overlay) can depend on the masks inside its output folder."""
    input:
        images=lambda w: list(stack_images(w.stack).values()),
        model=lambda w: npssegnet_model(w.stack),
    output:
        directory("results/{stack}/segmentation"),
    params:
        settings=lambda w: stack_settings(w.stack, "segment"),
    threads: MAX_THREADS
    resources:
        gpu=1,
        mem_mb=GPU_MEM_MB,
    log:
        "logs/{stack}/segment.log",
    benchmark:
        "benchmarks/{stack}/segment.tsv"
    conda:
        ENV
    script:
        "../scripts/segment.py"
