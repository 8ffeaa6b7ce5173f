# Helpers and input functions shared by the rule files.

import copy
import re
from functools import cache
from pathlib import Path

from snakemake.exceptions import WorkflowError

# the package in src/ (the Snakefile puts it on sys.path)
from tgan.ground_truth import ground_truth_files, ground_truth_kind
from tgan.options import merged_section
from tgan.images import FrameCounts, stack_sources as read_stack_sources
from tgan.subsets import kfold
from tgan.validation import imports_stale


def with_adaptation_rounds(stacks):
    """The configured stacks and, after them, each one's model-adaptation rounds as stacks of their own:
    NAME_round1 .. NAME_roundN hold NAME's images and settings, and each takes its rough masks from the previous
    round's NPsSegNet (rough_masks method model), so the DAG shows every round and the evaluation scores each. The
    last round is the stack's answer. Returns (stacks, {NAME_roundK: NAME}); the config is left as it is."""
    out, round_of = dict(stacks), {}
    for name, settings in stacks.items():
        previous = name
        for k in range(1, settings["experimental"]["adaptation_rounds"] + 1):
            entry = copy.deepcopy(settings)
            entry["experimental"]["adaptation_rounds"] = 0
            entry["rough_masks"] = {**entry.get("rough_masks", {}), "method": "model", "from_stack": previous}
            previous = f"{name}_round{k}"
            if previous in stacks:
                raise WorkflowError(f"stack {name}: adaptation round {previous} is also a configured stack name")
            out[previous] = entry
            round_of[previous] = name
    return out, round_of


# Every stack the workflow runs, the rounds included; NAME_roundK -> NAME: a round has its stack's images and ground
# truth, so its evaluation reuses the stack's supervised baseline instead of training the same k-fold models again.
STACK_CONFIG, ROUND_OF = with_adaptation_rounds(config["stacks"])
STACKS = list(STACK_CONFIG)
if not STACKS:
    raise WorkflowError(
        "No stacks configured. Add one under `stacks:` in config/config.yaml, e.g.\n"
        "  stacks:\n    my_sample:\n      images: path/to/image/folder\n"
        "with the CPU preset: snakemake --configfile config/presets/cpu.yaml my_stacks.yaml --cores 2\n"
        "or run the shipped demo: snakemake --configfile config/presets/cpu.yaml config/demo.yaml --cores 2"
    )

ENV = "../../envs/tgan.yaml"
MAX_THREADS = config["max_threads"]
GPU_MEM_MB = config["gpu_mem_mb"]


wildcard_constraints:
    stack="|".join(re.escape(s) for s in STACKS),
    image=r"[^/]+",


def stack_settings(stack, section):
    """A step section as the stack runs it: the global settings, its experimental ones and the stack's own overrides
    of both (tgan.options.merged_section; a new dict, which the input functions may change)."""
    return merged_section(config, STACK_CONFIG[stack], section)


# The frame counts of the stacks' EM files, by path, size and time: every parse of the workflow (each cluster job's
# too) lists the stacks' images, and reads no file header that it read before.
FRAME_COUNTS = FrameCounts(Path(".snakemake") / "tgan" / "frame_counts.json")


@cache
def stack_sources(stack):
    """{image name: (source file, frame)} of a stack's image folder; a file with several frames gives
    several images (NAME_f000, NAME_f001, ...). Cached: the files' headers are read once per run."""
    sources = read_stack_sources(STACK_CONFIG[stack]["images"], FRAME_COUNTS)
    FRAME_COUNTS.save()
    return sources


def stack_images(stack):
    """{image name: path} of the stack's images as the workflow uses them (rule import_image)."""
    return {name: f"results/{stack}/images/{name}.png" for name in stack_sources(stack)}


def validation_gate(wildcards):
    """The stack's validation, which every import waits for. For an image imported before, ancient: an image
    added to the stack validates the stack again but imports only itself (an image's own file, frame, crop and
    pixel size decide its import, and they are its inputs and params). Not ancient for an image not yet
    imported or whose file changed since its import, nor when the stack's crop or pixel size changed since its
    validation or an image left the stack (every image is imported again, `tgan.validation.imports_stale`):
    Snakemake 9 (dag.update_needrun) plans no job that it reaches only through an ancient input of a job that
    reruns, and does not look at the own inputs of the jobs after it, so those imports, and the rest of the
    stack's chain after them, would wait for a second run."""
    gate = f"results/{wildcards.stack}/validated.json"
    record = Path(f"results/{wildcards.stack}/images/{wildcards.image}.json")
    if stack_imports_stale(wildcards.stack) or not record.exists():
        return gate
    source = Path(stack_sources(wildcards.stack)[wildcards.image][0])
    return gate if source.stat().st_mtime > record.stat().st_mtime else ancient(gate)


@cache
def stack_imports_stale(stack):
    settings = STACK_CONFIG[stack]
    return imports_stale(f"results/{stack}/validated.json", settings["crop"], settings["pixel_size_nm"],
                         stack_sources(stack))


def stack_calibrations(stack):
    return [f"results/{stack}/images/{name}.json" for name in stack_sources(stack)]


def polarity(wildcards):
    """The stack's particle polarity: bright (HAADF-STEM) or dark (BF-TEM)."""
    return STACK_CONFIG[wildcards.stack]["polarity"]


def model_stack(stack):
    """The stack whose NPsSegNet segments `stack`: its own, or the one named by its `segment_with`."""
    return STACK_CONFIG[stack].get("segment_with", stack)  # absent: its own


def npssegnet_model(stack):
    """The NPsSegNet that segments `stack`: input of segment, and of rough_masks with method model."""
    return f"results/{model_stack(stack)}/npssegnet/model.pt"


def check_stacks():
    """Errors in the stacks section that the schema cannot see, raised before any job starts."""
    for stack in STACKS:
        source = STACK_CONFIG[stack].get("segment_with")
        if source is not None and (source not in STACKS or model_stack(source) != source):
            raise WorkflowError(f"stack {stack}: segment_with must name another configured stack that trains its "
                                f"own NPsSegNet (no segment_with of its own), got {source!r}")
        rough = stack_settings(stack, "rough_masks")
        if rough["method"] == "model":
            source = rough.get("from_stack")  # no default: the schema needs none for the other methods
            if source not in STACKS or model_stack(source) == stack:
                raise WorkflowError(f"stack {stack}: rough_masks.from_stack must name another configured stack "
                                    f"(not one segmented with this stack's model), got {source!r}")
        for step in ("pix2pix", "cyclegan"):
            gan = stack_settings(stack, step)
            if gan["n_epochs"] + gan["n_epochs_decay"] < 1:
                raise WorkflowError(f"stack {stack}: {step}.n_epochs + {step}.n_epochs_decay is 0: the GAN would not "
                                    "train at all (its generator would be random); give it at least one epoch")
        try:
            stack_sources(stack)
        except (OSError, ValueError) as err:
            raise WorkflowError(f"stacks.{stack}.images: {err}") from err


check_stacks()


def stack_files(wildcards):
    """The files of the stack's folder that hold its images (a multi-frame file once)."""
    return sorted({source for source, _ in stack_sources(wildcards.stack).values()})


def image_source(wildcards):
    """(file, frame) that the stack's image {image} comes from."""
    sources = stack_sources(wildcards.stack)
    if wildcards.image not in sources:
        raise WorkflowError(f"stack {wildcards.stack}: no image named {wildcards.image}")
    return sources[wildcards.image]


def image_file(wildcards):
    return image_source(wildcards)[0]


def image_frame(wildcards):
    return image_source(wildcards)[1]


def rough_masks_model(stack, name):
    """{name: the NPsSegNet that makes the stack's rough masks} with rough_masks method model, else {}."""
    rough = stack_settings(stack, "rough_masks")
    return {name: npssegnet_model(rough["from_stack"])} if rough["method"] == "model" else {}


def rough_masks_input(wildcards):
    """The subsets, the images with their import records (the burned-in annotations the segmenter leaves out), and
    the model of the method model."""
    return {"subsets": f"results/{wildcards.stack}/subsets.json",
            "images": list(stack_images(wildcards.stack).values()), "records": stack_calibrations(wildcards.stack),
            **rough_masks_model(wildcards.stack, "model")}


# The rough_masks settings each method reads: a setting of another method does not redo the rough masks
# (and retrain the chain).
ROUGH_MASK_METHOD_KEYS = {"classical": (), "sam": ("checkpoint", "model_type", "points_per_side", "max_area_fraction"),
                          "model": ("from_stack",)}


def rough_masks_settings(wildcards):
    """The stack's rough_masks settings that its method reads, and the outline level of every method."""
    rough = stack_settings(wildcards.stack, "rough_masks")
    keys = ("method", "edge_level", *ROUGH_MASK_METHOD_KEYS[rough["method"]])
    return {key: rough[key] for key in keys if key in rough}


def cyclegan_settings(wildcards):
    """The CycleGAN settings in force: the encoder keys are those of the UNet++ discriminator, and with the
    PatchGAN one they change nothing, so they are left out of the rule's params (no retraining)."""
    options = stack_settings(wildcards.stack, "cyclegan")
    options.pop("enabled")  # whether the stage runs at all, not how it trains (cyclegan_outputs)
    if options["discriminator"] != "unetplusplus":
        for key in ("encoder", "encoder_depth", "decoder_channels"):
            options.pop(key, None)
    return options


CYCLEGAN_OUTPUTS = {"cyclegan": "results/{stack}/cyclegan/generator.pt", "gen2": "results/{stack}/gen2",
                    "gen2_check": "results/{stack}/checks/gen2.csv"}


def cyclegan_outputs(*names):
    """An input function: the named outputs of the stack's CycleGAN stage (CYCLEGAN_OUTPUTS), or none when it is
    switched off (cyclegan.enabled: false), so that no CycleGAN is trained for the stack and NPsSegNet trains on
    gen1 (tgan.fallback.training_data)."""
    def inputs(wildcards):
        if not stack_settings(wildcards.stack, "cyclegan")["enabled"]:
            return {}
        return {name: CYCLEGAN_OUTPUTS[name].format(stack=wildcards.stack) for name in names}
    return inputs


def npssegnet_settings(stack, **overrides):
    """The NPsSegNet settings in force, with `overrides` (the supervised baseline trains on the manual labels
    only, as the paper's binary network): without real crops, which images give them and their ignore band
    change nothing, so they are left out of the rule's params (no retraining)."""
    options = {**stack_settings(stack, "npssegnet"), **overrides}
    if not options["real_fraction"]:
        for key in ("pseudo_labels", "ignore_band_px"):
            options.pop(key, None)
    return options


def segment_input(wildcards):
    """The images and their import records (the burned-in annotations that the floor leaves out), the NPsSegNet
    that segments them with its check and method record, and the model of the rough-mask segmenter (method model)
    that replaces it when it failed its check."""
    source = model_stack(wildcards.stack)
    inputs = {"images": list(stack_images(wildcards.stack).values()), "records": stack_calibrations(wildcards.stack),
              "model": npssegnet_model(wildcards.stack),
              "check": f"results/{source}/checks/npssegnet.csv", "method": f"results/{source}/npssegnet/method.json"}
    return {**inputs, **rough_masks_model(wildcards.stack, "rough_model")}


def rough_masks_segment(wildcards):
    """The stack's segment settings, which only the `model` method uses: a threshold changed for the stack's
    own segmentation does not redo its classical rough masks (and retrain the chain)."""
    rough = stack_settings(wildcards.stack, "rough_masks")
    return stack_settings(wildcards.stack, "segment") if rough["method"] == "model" else {}


def pseudo_label_subsets(wildcards):
    """Which images NPsSegNet takes real crops from: 'all' where it trains on every image's rough mask,
    else 'morphology' (the subset pix2pix and the synthetic masks need, or none without real_fraction)."""
    options = stack_settings(wildcards.stack, "npssegnet")
    return options["pseudo_labels"] if options["real_fraction"] > 0 else "morphology"


def pseudo_labels_input(wildcards):
    """The rough masks of the contrast subset (rule pseudo_labels), where NPsSegNet trains on every image's."""
    return {"pseudo_labels": f"results/{wildcards.stack}/pseudo_labels"} if pseudo_label_subsets(wildcards) == "all" else {}


def rough_masks_gpu(wildcards):
    """The classical method needs no GPU; SAM and a transferred model do."""
    return int(stack_settings(wildcards.stack, "rough_masks")["method"] != "classical")


def final_outputs():
    """What `snakemake` makes by default, and what the report gathers: per stack the PSD tables and
    histogram, one overlay per image, and the image stream of the stacks that train their own model
    (a stack with segment_with has no training chain to show)."""
    outputs = []
    for stack in STACKS:
        outputs += [f"results/{stack}/psd/summary.csv", f"results/{stack}/psd/histogram.png"]
        if model_stack(stack) == stack:
            outputs.append(f"results/{stack}/figures/image_stream.png")
        outputs.append(f"results/{stack}/overlays")
    return outputs


# Evaluation (stacks with ground_truth, workflow/rules/evaluate.smk).

EVALUATED_STACKS = [s for s in STACKS if "ground_truth" in STACK_CONFIG[s]]


@cache
def ground_truth(stack):
    """{image name: ground-truth file} of the stack's images that have one."""
    return ground_truth_files(STACK_CONFIG[stack]["ground_truth"], stack_sources(stack))


def ground_truth_type(stack):
    """'masks' or 'yolo'."""
    return ground_truth_kind(STACK_CONFIG[stack]["ground_truth"])[0]


def supervised_folds(stack):
    """{image name: fold} of the supervised baseline's k-fold cross-validation."""
    return kfold(list(ground_truth(stack)), config["evaluate"]["folds"], config["seed"])


def check_ground_truth():
    """Ground-truth errors (missing folder, no matching file, too few images for the folds) before any job."""
    for stack in EVALUATED_STACKS:
        try:
            ground_truth(stack)
            supervised_folds(stack)
        except (OSError, ValueError) as err:
            raise WorkflowError(f"stack {stack}: ground_truth: {err}")


check_ground_truth()


def evaluated_images(wildcards):
    return [stack_images(wildcards.stack)[n] for n in ground_truth(wildcards.stack)]


def evaluated_calibrations(wildcards):
    """import_image's records of the evaluated images: their burned-in annotations are not scored."""
    return [f"results/{wildcards.stack}/images/{n}.json" for n in ground_truth(wildcards.stack)]


def training_names(wildcards):
    """The images a supervised fold trains on: all with ground truth except the fold's own."""
    return [n for n, fold in supervised_folds(wildcards.stack).items() if fold != int(wildcards.fold)]


def baseline_models(wildcards):
    stack = wildcards.stack
    inputs = {"gen1_model": f"results/{stack}/evaluation/npssegnet_gen1/model.pt",
              "supervised": expand("results/{stack}/evaluation/supervised/fold{fold}/model.pt",
                                   stack=ROUND_OF.get(stack, stack),
                                   fold=range(config["evaluate"]["folds"]))}
    return {**inputs, **rough_masks_model(stack, "rough_model")}


def evaluation_outputs():
    """metrics.csv, metrics.png and image_quality.csv of every stack with ground truth."""
    return expand("results/{stack}/evaluation/{name}", stack=EVALUATED_STACKS,
                  name=["metrics.csv", "metrics.png", "image_quality.csv"])


# Comparisons of stacks' PSDs (workflow/rules/compare.smk).

COMPARISONS = config["compare"]


def check_comparisons():
    """Comparisons that name a stack not configured, or a stack named `compare`, whose results folder would hold
    the comparisons' folders, stop the run before any job starts."""
    for name, stacks in COMPARISONS.items():
        unknown = [stack for stack in stacks if stack not in STACKS]
        if unknown:
            raise WorkflowError(f"compare.{name}: {', '.join(unknown)} is not a configured stack "
                                f"(stacks: {', '.join(STACKS)})")
    if COMPARISONS and "compare" in STACKS:
        raise WorkflowError("a stack named compare: its results/compare/ folder is where the comparisons go; "
                            "rename the stack")


check_comparisons()


def compare_outputs():
    """compare.csv and compare.png of every configured comparison (none by default)."""
    return expand("results/compare/{name}/compare.{ext}", name=COMPARISONS, ext=["csv", "png"])
