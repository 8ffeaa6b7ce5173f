# tGAN: label-free segmentation of nanoparticles in EM images, with particle-size distributions.
# Steps and rule names follow the method (see README.md); each step has its own rule file.

from pathlib import Path

from snakemake.utils import min_version, validate

min_version("9.0")


# The defaults live beside this file, so the workflow also runs from another directory
# (snakemake -s path/to/Snakefile --directory my_project); --configfile adds to them.
configfile: Path(workflow.basedir) / "config" / "config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/validate_inputs.smk"
include: "workflow/rules/import_image.smk"
include: "workflow/rules/split_subsets.smk"
include: "workflow/rules/rough_masks.smk"
include: "workflow/rules/train_pix2pix.smk"
include: "workflow/rules/synthesize_masks.smk"
include: "workflow/rules/generate_gen1.smk"
include: "workflow/rules/train_cyclegan.smk"
include: "workflow/rules/generate_gen2.smk"
include: "workflow/rules/pseudo_labels.smk"
include: "workflow/rules/train_npssegnet.smk"
include: "workflow/rules/segment.smk"
include: "workflow/rules/psd.smk"
include: "workflow/rules/image_stream.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/compare.smk"


# Paper settings on a machine without a GPU: said once, before the first job, with how long they would take.
onstart:
    import sys
    from tgan.runtime import cpu_warning, on_cpu
    if message := cpu_warning(config, on_cpu(config["device"])):
        print(message, file=sys.stderr)


rule all:
    input:
        final_outputs(),
        evaluation_outputs(),
        compare_outputs(),
    default_target: True
