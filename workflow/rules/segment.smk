rule segment:
    """Step 8b: segment every image of the stack with its NPsSegNet, or with the NPsSegNet of the stack named by
    its segment_with, in one job: the model is loaded once, and each image costs three forward passes (the image
    and two flips; whole image, tiles only when it is too large) and the rough-mask segmenter, instead of seconds
    of Python and torch start-up. Each image's answer is NPsSegNet's mask or the rough mask, whichever outlines
    the particles better (the floor), with a label-free quality estimate (quality.csv, tgan.quality).
    Its output is one folder (the masks, method.json, quality.csv), which psd, evaluate and image_stream read by
    image name: the images are known when the workflow is parsed, so no checkpoint is needed. When NPsSegNet failed its own check, the stack's rough-mask segmenter segments every image instead
    (self_checks.on_failure fallback; stop: the stack stops here). method.json in the output folder says which
    method made the masks, and why (tgan.fallback)."""
    input:
        unpack(segment_input),
    output:
        directory("results/{stack}/segmentation"),
    params:
        settings=lambda w: stack_settings(w.stack, "segment"),
        on_failure=config["self_checks"]["on_failure"],
        # the rough-mask segmenter, which segments every image when NPsSegNet failed its check (fallback)
        rough_masks=rough_masks_settings,
        polarity=polarity,
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
