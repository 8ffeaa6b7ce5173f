rule image_stream:
    """Figure: the method's image stream for a few images (real, rough mask, synthetic mask, gen1, gen2,
    segmentation), the paper's Figure 2 b-f, to see where a poor segmentation comes from."""
    input:
        unpack(cyclegan_outputs("gen2")),  # none with cyclegan.enabled: false (blank panels)
        subsets="results/{stack}/subsets.json",
        rough_masks="results/{stack}/rough_masks",
        synthetic_masks="results/{stack}/synthetic_masks",
        gen1="results/{stack}/gen1",
        segmentation="results/{stack}/segmentation",
    output:
        report("results/{stack}/figures/image_stream.png", caption="../report/image_stream.rst",
               category="{stack}", subcategory="image stream"),
    log:
        "logs/{stack}/image_stream.log",
    conda:
        ENV
    script:
        "../scripts/image_stream.py"
