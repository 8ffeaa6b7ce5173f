rule train_npssegnet:
    """Step 8a: NPsSegNet (UNet++) trained on the virtual dataset (gen2, synthetic masks)."""
    input:
        unpack(pseudo_labels_input),
        images="results/{stack}/gen2",
        masks="results/{stack}/synthetic_masks",
        subsets="results/{stack}/subsets.json",
        rough_masks="results/{stack}/rough_masks",
    output:
        model="results/{stack}/npssegnet/model.pt",
        losses="results/{stack}/npssegnet/losses.csv",
        checks=report("results/{stack}/checks/npssegnet.csv", caption="../report/checks.rst", category="{stack}",
                      subcategory="self-checks"),
    params:
        options=lambda w: npssegnet_settings(w.stack),
        pseudo_labels=pseudo_label_subsets,
        on_failure=config["self_checks"]["on_failure"],
        seed=config["seed"],
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
