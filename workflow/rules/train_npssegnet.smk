rule train_npssegnet:
    """Step 8a: NPsSegNet (UNet++) trained on the virtual dataset (gen2, synthetic masks), or down the fallback
    ladder (gen1; the real images with their pseudo-labels alone) when the gen2 or gen1 check failed. With
    cyclegan.enabled: false it trains on gen1 (or, when gen1 failed, the real images alone), and no CycleGAN is
    trained."""
    input:
        unpack(pseudo_labels_input),
        unpack(cyclegan_outputs("gen2", "gen2_check")),  # none with cyclegan.enabled: false
        gen1="results/{stack}/gen1",
        gen1_check="results/{stack}/checks/gen1.csv",
        masks="results/{stack}/synthetic_masks",
        instances="results/{stack}/synthetic_instances",
        subsets="results/{stack}/subsets.json",
        rough_masks="results/{stack}/rough_masks",
    output:
        model="results/{stack}/npssegnet/model.pt",
        losses="results/{stack}/npssegnet/losses.csv",
        method="results/{stack}/npssegnet/method.json",
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
