"""split_subsets: write {"morphology": {name: path}, "contrast": {name: path}} for one stack."""

from tgan import job
from tgan.files import write_json
from tgan.subsets import split_subsets

job.start(snakemake)
images = snakemake.params.images
subsets = split_subsets(list(images), snakemake.params.settings["morphology_size"], snakemake.params.seed)
result = {part: {name: images[name] for name in names} for part, names in subsets.items()}
write_json(snakemake.output[0], result)
print(f"morphology: {len(subsets['morphology'])} images, contrast: {len(subsets['contrast'])} images")
