rule rough_masks:
    """Step 2: rough masks of the morphology subset (classical, SAM, or another stack's NPsSegNet); of every
    image when they are NPsSegNet's pseudo-labels too (npssegnet.pseudo_labels: all)."""
    input:
        unpack(rough_masks_input),
    output:
        directory("results/{stack}/rough_masks"),
    params:
        settings=lambda w: stack_settings(w.stack, "rough_masks"),
        segment=rough_masks_segment,
        psd=rough_masks_split,
        polarity=polarity,
        images=pseudo_label_subsets,
        device=config["device"],
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
