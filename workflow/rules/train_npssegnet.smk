rule train_npssegnet:
    """Step 8a: NPsSegNet (UNet++) trained on the virtual dataset (gen2, synthetic masks)."""
    input:
        images="results/{stack}/gen2",
        masks="results/{stack}/synthetic_masks",
    output:
        model="results/{stack}/npssegnet/model.pt",
        losses="results/{stack}/npssegnet/losses.csv",
    params:
        options=lambda w: stack_settings(w.stack, "npssegnet"),
        seed=config["seed"],
        device=config["device"],
    threads: MAX_THREADS
    resources:
        gpu=1,
        mem_mb=GPU_MEM_MB,
    log:
        "logs/{stack}/train_npssegnet.log",
    benchmark:
        "benchmarks/{stack}/train_npssegnet.tsv"
    conda:
        ENV
    script:
        "../scripts/train_npssegnet.py"
