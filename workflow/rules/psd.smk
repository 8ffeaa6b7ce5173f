rule psd:
    """Particle-size distribution of the stack: per-particle table, summaries, histogram."""
    input:
        segmentation_masks,
    output:
        particles="results/{stack}/psd/particles.csv",
        summary="results/{stack}/psd/summary.csv",
        histogram="results/{stack}/psd/histogram.png",
    log:
        "logs/{stack}/psd.log",
    benchmark:
        "benchmarks/{stack}/psd.tsv"
    conda:
        ENV
    script:
        "../scripts/psd.py"
