rule rough_masks:
    """Step 2: rough masks of the morphology subset (classical, SAM, or another stack's NPsSegNet)."""
    input:
        unpack(rough_masks_input),
    output:
        directory("results/{stack}/rough_masks"),
    params:
        settings=rough_masks_settings,
        segment=rough_masks_segment,
        polarity=polarity,
        subset="morphology",
    threads: MAX_THREADS
    resources:
        gpu=rough_masks_gpu,
        mem_mb=GPU_MEM_MB,
    log:
        "logs/{stack}/rough_masks.log",
    benchmark:
        "benchmarks/{stack}/rough_masks.tsv"
    conda:
        ENV
    script:
        "../scripts/rough_masks.py"
