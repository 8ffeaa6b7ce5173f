"""How long a run's trainings take on a CPU, said before the run starts.

The paper settings (512² crops, a ResNet34 UNet++, a 9-block CycleGAN, 100 + 50 and 150 epochs) are meant for a GPU;
started on a CPU they run for weeks without a word. The Snakefile's `onstart` prints `cpu_warning` once, before the
first job (not per cluster job), so that a user without a GPU learns it at once and is pointed to the CPU preset.

The estimate is steps x seconds per step: the steps from the config (GAN epochs x crops per epoch / batch; NPsSegNet
epochs x virtual images / batch, per member), the seconds of one step of each paper network measured on a 2-core CPU
(`bench/cpu_steps.py`), scaled by the pixels of a batch. Smaller networks (the CPU preset's) are faster than their
pixels say, so for them it is an upper bound; generation, segmentation and the evaluation's baselines are left out.
"""

from __future__ import annotations

from .options import stack_section

# One training step, batch 4 x 512², paper networks, 2 threads of a 2-core AMD EPYC (bench/cpu_steps.py; measured
# while other jobs shared the two cores, load about 4: an idle machine may take up to half as long).
STEP_SECONDS = {"pix2pix": 9.7, "cyclegan": 243.0, "npssegnet": 16.4}
MEASURED_PIXELS = 4 * 512 * 512
# A stack whose trainings would take longer than this on the CPU gets the warning: the CPU preset's chain takes
# minutes (its estimate, an upper bound, stays under an hour), the paper settings' weeks.
WARN_HOURS = 2.0
PRESET = "config/presets/cpu.yaml"


def training_steps(config: dict, stack: str) -> dict[str, float]:
    """Optimiser steps of each network one chain of `stack` trains."""
    steps = {}
    for gan in ("pix2pix", "cyclegan"):
        s = stack_section(config, stack, gan)
        steps[gan] = (s["n_epochs"] + s["n_epochs_decay"]) * max(1, s["crops_per_epoch"] // s["batch_size"])
    s = stack_section(config, stack, "npssegnet")
    count = stack_section(config, stack, "synthesize_masks")["count"]
    steps["npssegnet"] = s["epochs"] * count / s["batch_size"] * s["members"]
    return steps


def stack_hours(config: dict, stack: str) -> dict[str, float]:
    """CPU hours of each training of one chain of `stack`."""
    hours = {}
    for net, steps in training_steps(config, stack).items():
        s = stack_section(config, stack, net)
        pixels = s["batch_size"] * s["crop_size"] ** 2
        hours[net] = steps * STEP_SECONDS[net] * pixels / MEASURED_PIXELS / 3600
    return hours


def chains(config: dict) -> dict[str, int]:
    """The stacks that train, with the chains each trains (1 + its adaptation rounds, which the workflow adds as
    stacks of their own beside the config). A stack with `segment_with` trains nothing."""
    return {name: 1 + s["experimental"]["adaptation_rounds"] for name, s in config["stacks"].items()
            if "segment_with" not in s}


def on_cpu(device: str) -> bool:
    """Whether the `device` setting trains on the CPU here (`auto` without a GPU, or `cpu`)."""
    import torch

    return device == "cpu" or (device == "auto" and not torch.cuda.is_available())


def cpu_warning(config: dict, on_cpu: bool) -> str | None:
    """The message for a run whose trainings take more than WARN_HOURS per stack on this CPU, else None."""
    if not on_cpu:
        return None
    per_stack = {name: sum(stack_hours(config, name).values()) * n for name, n in chains(config).items()}
    if not per_stack or max(per_stack.values()) <= WARN_HOURS:
        return None
    longest = max(per_stack, key=per_stack.get)
    parts = ", ".join(f"{net} {h:,.0f} h" for net, h in stack_hours(config, longest).items())
    total = sum(per_stack.values())
    return (f"tGAN: no GPU: this run trains on the CPU. Its trainings, as configured, would take about "
            f"{total / 24:,.0f} days ({total:,.0f} h) on a 2-core CPU for {len(per_stack)} stack(s), stack "
            f"{longest} {per_stack[longest]:,.0f} h ({parts}; trainings already finished do not run again; more "
            f"cores shorten it, at best in proportion). These are settings for a GPU. On a CPU use the CPU preset, "
            f"given before your stacks:\n"
            f"  snakemake --configfile {PRESET} my_stacks.yaml --cores 2")
