# Evaluation of stacks with ground truth: the method against its rough masks, the gen1-only ablation,
# a supervised (manual-labelling) baseline and the classical segmenter, on the same images.

rule train_npssegnet_gen1:
    """Ablation (c): NPsSegNet trained on gen1 and the synthetic masks, without the CycleGAN step."""
    input:
        unpack(pseudo_labels_input),
        images="results/{stack}/gen1",
        gen1_check="results/{stack}/checks/gen1.csv",  # an empty gen1 (left out): why
        masks="results/{stack}/synthetic_masks",
        instances="results/{stack}/synthetic_instances",
        subsets="results/{stack}/subsets.json",
        rough_masks="results/{stack}/rough_masks",
    output:
        model="results/{stack}/evaluation/npssegnet_gen1/model.pt",
        losses="results/{stack}/evaluation/npssegnet_gen1/losses.csv",
    params:
        options=lambda w: npssegnet_settings(w.stack),
        pseudo_labels=pseudo_label_subsets,
        seed=config["seed"],
    threads: MAX_THREADS
    resources:
        gpu=1,
        mem_mb=GPU_MEM_MB,
    log:
        "logs/{stack}/train_npssegnet_gen1.log",
    benchmark:
        "benchmarks/{stack}/train_npssegnet_gen1.tsv"
    conda:
        ENV
    script:
        "../scripts/train_npssegnet.py"


rule train_supervised:
    """Baseline (d), manual labelling: NPsSegNet trained on the ground-truth masks of the other folds (boxes:
    the ellipses inscribed in them), cut into tiles of the virtual images' size, with as many crops per
    epoch as the virtual dataset."""
    input:
        images=lambda w: [stack_images(w.stack)[n] for n in training_names(w)],
        # import_image's records: the crop each image was given (config, vendor metadata, a detected bar)
        calibrations=lambda w: [f"results/{w.stack}/images/{n}.json" for n in training_names(w)],
        ground_truth=lambda w: [ground_truth(w.stack)[n] for n in training_names(w)],
    output:
        model="results/{stack}/evaluation/supervised/fold{fold}/model.pt",
        losses="results/{stack}/evaluation/supervised/fold{fold}/losses.csv",
    params:
        kind=lambda w: ground_truth_type(w.stack),
        tile=lambda w: stack_settings(w.stack, "synthesize_masks")["size"],
        epoch_size=lambda w: stack_settings(w.stack, "synthesize_masks")["count"],
        # manual labels only: no rough-mask pseudo-labels in the baseline; the paper's binary network
        options=lambda w: npssegnet_settings(w.stack, real_fraction=0.0, instances="none"),
        seed=config["seed"],
    wildcard_constraints:
        fold=r"\d+",
    threads: MAX_THREADS
    resources:
        gpu=1,
        mem_mb=GPU_MEM_MB,
    log:
        "logs/{stack}/train_supervised/fold{fold}.log",
    benchmark:
        "benchmarks/{stack}/train_supervised/fold{fold}.tsv"
    conda:
        ENV
    script:
        "../scripts/train_supervised.py"


rule baseline_masks:
    """Masks of the comparison methods (classical, rough-mask segmenter, gen1-only, supervised) on the
    images with ground truth."""
    input:
        unpack(baseline_models),
        images=evaluated_images,
        records=evaluated_calibrations,
    output:
        directory("results/{stack}/evaluation/masks"),
    params:
        names=lambda w: list(ground_truth(w.stack)),
        folds=lambda w: supervised_folds(w.stack),
        rough=rough_masks_settings,
        polarity=polarity,
        segment=lambda w: stack_settings(w.stack, "segment"),
    threads: MAX_THREADS
    resources:
        gpu=1,
        mem_mb=GPU_MEM_MB,
    log:
        "logs/{stack}/baseline_masks.log",
    benchmark:
        "benchmarks/{stack}/baseline_masks.tsv"
    conda:
        ENV
    script:
        "../scripts/baseline_masks.py"


rule image_quality:
    """gen1 and gen2 against the real images: SSIM and PSNR (paired through the rough masks), kernel
    MMD, and FID/KID/IS when a local Inception weights file is configured."""
    input:
        unpack(cyclegan_outputs("cyclegan", "gen2")),  # none with cyclegan.enabled: false (no gen2 figures)
        pix2pix="results/{stack}/pix2pix/generator.pt",
        subsets="results/{stack}/subsets.json",
        rough_masks="results/{stack}/rough_masks",
        gen1="results/{stack}/gen1",
        images=lambda w: list(stack_images(w.stack).values()),
    output:
        report("results/{stack}/evaluation/image_quality.csv", caption="../report/image_quality.rst",
               category="{stack}", subcategory="evaluation"),
    params:
        inception_weights=config["evaluate"]["inception_weights"],
        seed=config["seed"],
    threads: MAX_THREADS
    resources:
        gpu=1,
        mem_mb=GPU_MEM_MB,
    log:
        "logs/{stack}/image_quality.log",
    benchmark:
        "benchmarks/{stack}/image_quality.tsv"
    conda:
        ENV
    script:
        "../scripts/image_quality.py"


rule evaluate:
    """Every method against the ground truth on the same images: metrics.csv (method, metric, value)
    and a bar chart."""
    input:
        segmentation="results/{stack}/segmentation",
        masks="results/{stack}/evaluation/masks",
        images=evaluated_images,
        calibrations=evaluated_calibrations,
        ground_truth=lambda w: list(ground_truth(w.stack).values()),
    output:
        metrics=report("results/{stack}/evaluation/metrics.csv", caption="../report/metrics.rst",
                       category="{stack}", subcategory="evaluation"),
        chart=report("results/{stack}/evaluation/metrics.png", caption="../report/metrics.rst",
                     category="{stack}", subcategory="evaluation"),
    params:
        names=lambda w: list(ground_truth(w.stack)),
        kind=lambda w: ground_truth_type(w.stack),
        psd=lambda w: stack_settings(w.stack, "psd"),
    log:
        "logs/{stack}/evaluate.log",
    benchmark:
        "benchmarks/{stack}/evaluate.tsv"
    conda:
        ENV
    script:
        "../scripts/evaluate.py"
