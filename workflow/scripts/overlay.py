"""overlay: outlines of the particles that psd measures, and the regions it ignores, drawn on one image."""

import imageio.v3 as iio

from tgan import job
from tgan.annotations import ignore_mask
from tgan.figures import overlay
from tgan.files import atomic
from tgan.options import PSDOptions, from_dict
from tgan.psd import measure_image

job.start(snakemake)
image, labels, table, calibration = measure_image(snakemake.input.mask, snakemake.input.image,
                                                  snakemake.input.calibration,
                                                  from_dict(PSDOptions, snakemake.params.settings),
                                                  snakemake.wildcards.stack)
with atomic(snakemake.output[0]) as tmp:
    iio.imwrite(tmp, overlay(image, labels, table.loc[table["touches_border"], "particle_id"].tolist(),
                             ignore_mask(image.shape, calibration)))
print(f"{snakemake.wildcards.image}: {len(table)} particles, {int(table['touches_border'].sum())} cut by the border "
      f"or an ignored region; {len(calibration.get('ignore', []))} ignored regions")
