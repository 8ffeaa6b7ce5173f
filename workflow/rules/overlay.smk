rule overlay:
    """Particle outlines (as psd counts them) on one image of the stack, to judge the segmentation by eye."""
    input:
        image="results/{stack}/images/{image}.png",
        calibration="results/{stack}/images/{image}.json",
        mask=image_segmentation,
    output:
        report("results/{stack}/overlays/{image}.png", caption="../report/overlay.rst", category="{stack}",
               subcategory="overlays", labels={"stack": "{stack}", "image": "{image}"}),
    params:
        settings=overlay_settings,
    log:
        "logs/{stack}/overlay/{image}.log",
    conda:
        ENV
    script:
        "../scripts/overlay.py"
