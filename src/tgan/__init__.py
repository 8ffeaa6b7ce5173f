"""tgan: label-free segmentation of nanoparticles in EM images with a tandem GAN.

The package holds the real code of the Snakemake workflow (IO, rough masks, networks, training,
synthetic masks, particle-size distributions) so that it can be tested without Snakemake.
"""

__version__ = "0.1.0"
