# tGAN: label-free segmentation of nanoparticles in EM images, with particle-size distributions.
# Steps and rule names follow the method (see README.md); each step has its own rule file.

import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

min_version("9.0")

# The Snakefile reads the config and the stack folders with the package in src/. The scripts import the installed
# package (`make install`: an editable install of this src/) or, where none is installed (--sdm conda environments,
# cluster nodes), the link workflow/scripts/tgan -> src/tgan (Snakemake appends a script's folder to sys.path,
# after site-packages: tests run from another checkout set PYTHONPATH, tests/workflow_helpers.py).
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from tgan.options import validate_config  # noqa: E402


# Every setting's default is in workflow/schemas/config.schema.yaml; config/config.yaml (beside this file, so the
# workflow also runs from another directory: snakemake -s path/to/Snakefile --directory my_project) holds the
# stacks, and --configfile adds to it. validate_config checks the merged config and fills in the schema's defaults
# (snakemake.utils.validate with set_default=True), as `tgan watch` does.
configfile: Path(workflow.basedir) / "config" / "config.yaml"


try:
    validate_config(config)
except ValueError as err:
    raise WorkflowError(f"config: {err}") from None


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
