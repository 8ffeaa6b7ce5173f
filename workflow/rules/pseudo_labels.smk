rule pseudo_labels:
    """Step 8, with npssegnet.pseudo_labels all: the rough-mask segmenter of step 2 on the contrast subset, so
    that NPsSegNet's real crops come from every image. A rule of its own: the morphology subset's rough masks,
    which pix2pix and the synthetic masks are made from, stay as they are when this setting changes."""
    input:
        unpack(rough_masks_input),
    output:
        directory("results/{stack}/pseudo_labels"),
    params:
        settings=rough_masks_settings,
        segment=rough_masks_segment,
        polarity=polarity,
        subset="contrast",
    threads: MAX_THREADS
    resources:
        gpu=rough_masks_gpu,
        mem_mb=GPU_MEM_MB,
    log:
        "logs/{stack}/pseudo_labels.log",
    benchmark:
        "benchmarks/{stack}/pseudo_labels.tsv"
    conda:
        ENV
    script:
        "../scripts/rough_masks.py"
