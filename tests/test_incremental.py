"""Reruns of only what is stale, reuse of a trained model (segment_with), and reproducibility.

One complete run of two small stacks is shared by the module; the checks are dry runs (default
--rerun-triggers) whose exact job lists are compared with the expected ones. Changes to the work
dir (a new image, a stack segmented with another stack's model) are made on copies of it. A second
run from scratch must give bit-identical results.
"""

import hashlib
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from tgan.images import read_mask
from tgan.options import validate_config
from tgan.training import load_checkpoint
from workflow_helpers import ROOT, chain_jobs, make_image, make_stack, planned_jobs, snakemake, write_config

FAST = ROOT / "tests" / "fast.yaml"
IMAGES = ["img0", "img1"]
STACKS = {"s1": {"images": "s1"}, "s2": {"images": "s2"}}  # folders relative to the work dir: copies stay valid


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    """A work dir after one complete run of stacks s1 and s2 (two images each)."""
    work = tmp_path_factory.mktemp("incremental")
    make_stack(work / "s1", "bright", seed=0, n_images=len(IMAGES))
    make_stack(work / "s2", "bright", seed=20, n_images=len(IMAGES))
    result = snakemake(work, "--cores", "2", configs=[FAST, write_config(work / "stacks.yaml", STACKS)])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    assert planned_jobs(result.stderr) == sorted(chain_jobs("s1", IMAGES) + chain_jobs("s2", IMAGES))
    return work


def copy(done, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(done, work, symlinks=True)  # file times too: the copy is as up to date as the original
    return work


def snakemake_with(work, stacks: dict, *args: str, changed: dict | None = None) -> str:
    """Snakemake in `work` with these stacks (or the whole `changed` config); its output (a dry run's plan goes
    to stdout, a run's log to stderr)."""
    path = work / "changed.yaml"
    path.write_text(yaml.safe_dump(changed or {"stacks": stacks}))
    result = snakemake(work, *args, configs=[FAST, path])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    return result.stdout + result.stderr


def job_inputs(output: str, rule: str) -> list[list[str]]:
    """The input files of each job of `rule` in Snakemake's output."""
    return [line.split(", ") for line in
            re.findall(rf"^(?:local)?(?:rule|checkpoint) {rule}:\n    input: (.*)$", output, re.MULTILINE)]


def test_complete_run_leaves_nothing_to_do(done):
    output = snakemake_with(done, STACKS, "-n")
    assert planned_jobs(output) == [] and "Nothing to be done" in output


def test_new_stack_runs_only_its_own_chain(done, tmp_path):
    make_stack(tmp_path / "s3", "dark", seed=40, n_images=3)
    stacks = {**STACKS, "s3": {"images": str(tmp_path / "s3"), "polarity": "dark"}}
    assert planned_jobs(snakemake_with(done, stacks, "-n")) == chain_jobs("s3", ["img0", "img1", "img2"])


def test_added_image_retrains_its_stack_and_is_counted(done, tmp_path):
    """A stack's model is trained on the stack as it is: a new image joins the subsets, so the stack's
    whole chain reruns in one run (validation, training, segmentation of every image), and the PSD counts
    the new image too; only the new image is imported. The other stack is left alone."""
    work = copy(done, tmp_path)
    make_image(work / "s1" / "img2.png", seed=99)
    output = snakemake_with(work, STACKS, "-n")
    assert planned_jobs(output) == [job for job in chain_jobs("s1", IMAGES + ["img2"])
                                    if job[0] != "import_image" or job[2] == "img2"]
    (segment_inputs,) = job_inputs(output, "segment")  # one job segments every image of the stack
    assert sorted(p for p in segment_inputs if "/images/" in p and p.endswith(".png")) == [
        f"results/s1/images/{name}.png" for name in IMAGES + ["img2"]]


def test_an_image_changed_in_place_is_imported_again_and_its_stack_reruns(done, tmp_path):
    """An image file replaced under the same name (exported again, another frame saved over it): in one run it is
    validated and imported again, and the stack's chain reruns on it; the other image is not imported again."""
    work = copy(done, tmp_path)
    make_image(work / "s1" / "img0.png", seed=123)
    output = snakemake_with(work, STACKS, "-n")
    assert planned_jobs(output) == [job for job in chain_jobs("s1", IMAGES)
                                    if job[0] != "import_image" or job[2] == "img0"]


def test_segment_with_reuses_the_other_stacks_model(done, tmp_path):
    """A new stack with segment_with: s1 trains nothing: it is imported, segmented with s1's NPsSegNet
    and measured. An image it shares with s1 gets exactly s1's mask and particle count."""
    work = copy(done, tmp_path)
    (work / "repeat").mkdir()
    shutil.copy(work / "s1" / "img0.png", work / "repeat" / "again.png")
    make_image(work / "repeat" / "new.png", seed=77)
    stacks = {**STACKS, "repeat": {"images": "repeat", "segment_with": "s1"}}
    expected = chain_jobs("repeat", ["again", "new"], ["validate_inputs", "import_image", "segment", "psd"])
    plan = snakemake_with(work, stacks, "-n")
    assert planned_jobs(plan) == expected
    assert all("results/s1/npssegnet/model.pt" in inputs for inputs in job_inputs(plan, "segment"))
    assert planned_jobs(snakemake_with(work, stacks, "--cores", "2")) == expected

    mask = read_mask(work / "results/repeat/segmentation/again.png")
    assert np.array_equal(mask, read_mask(work / "results/s1/segmentation/img0.png"))
    summary = pd.read_csv(work / "results/repeat/psd/summary.csv").set_index("image")
    s1 = pd.read_csv(work / "results/s1/psd/summary.csv").set_index("image")
    assert sorted(summary.index) == ["ALL", "again", "new"]
    assert summary.loc["again", "count"] == s1.loc["img0", "count"]
    assert not (work / "results/repeat/npssegnet").exists()

    # A frame joins the series: only it is segmented; the others are read back from the cache, unchanged.
    before = {n: read_mask(work / f"results/repeat/segmentation/{n}.png") for n in ("again", "new")}
    make_image(work / "repeat" / "later.png", seed=78)
    assert planned_jobs(snakemake_with(work, stacks, "-n")) == sorted(
        [("validate_inputs", "repeat", ""), ("import_image", "repeat", "later"), ("segment", "repeat", ""),
         ("psd", "repeat", "")])  # the other frames are not imported again
    snakemake_with(work, stacks, "--cores", "2")
    assert "1 image(s) read, 2 read back" in (work / "logs/repeat/validate_inputs.log").read_text()
    log = (work / "logs/repeat/segment.log").read_text()
    assert "1 image(s) segmented, 2 read back" in log and "[1/3] again:" in log
    assert log.count("from the cache") == 2 and re.search(r"later: .* segmented,", log)
    for name, mask in before.items():
        assert np.array_equal(read_mask(work / f"results/repeat/segmentation/{name}.png"), mask)
    summary = pd.read_csv(work / "results/repeat/psd/summary.csv").set_index("image")
    assert sorted(summary.index) == ["ALL", "again", "later", "new"]
    assert summary.loc["again", "count"] == s1.loc["img0", "count"]

    # A frame leaves the series: in one run it leaves the PSD (the others imported again, their masks read back).
    (work / "repeat" / "new.png").unlink()
    assert planned_jobs(snakemake_with(work, stacks, "--cores", "2")) == sorted(
        [("validate_inputs", "repeat", ""), ("import_image", "repeat", "again"), ("import_image", "repeat", "later"),
         ("segment", "repeat", ""), ("psd", "repeat", "")])
    assert "0 image(s) segmented, 2 read back" in (work / "logs/repeat/segment.log").read_text()
    summary = pd.read_csv(work / "results/repeat/psd/summary.csv").set_index("image")
    assert sorted(summary.index) == ["ALL", "again", "later"]
    assert summary.loc["again", "count"] == s1.loc["img0", "count"]
    assert planned_jobs(snakemake_with(work, stacks, "-n")) == []


def test_segment_with_names_a_stack_that_trains(tmp_path):
    make_stack(tmp_path / "a", "bright", seed=0, n_images=2)
    for stacks, wrong in [
        ({"a": {"images": "a", "segment_with": "nowhere"}}, "'nowhere'"),
        ({"a": {"images": "a", "segment_with": "b"}, "b": {"images": "a", "segment_with": "c"},
          "c": {"images": "a"}}, "'b'"),
    ]:
        result = snakemake(tmp_path, "-n", configs=[write_config(tmp_path / "stacks.yaml", stacks)])
        output = result.stdout + result.stderr
        assert result.returncode != 0
        assert "stack a: segment_with must name another configured stack that trains its own NPsSegNet" in output
        assert f"got {wrong}" in output


def digests(results: Path) -> dict[str, str]:
    """sha256 of every file; model files by their tensors (torch.save stamps each file with a random id), and the
    segment cache's entries by their contents alone (they are named by a digest of the model file's bytes)."""
    out, cached = {}, []
    for path in sorted(p for p in results.rglob("*") if p.is_file()):
        data = repr(_flatten(load_checkpoint(path))).encode() if path.suffix == ".pt" else path.read_bytes()
        if path.parent.name == "segment_cache":
            cached.append(hashlib.sha256(data).hexdigest())
        else:
            out[str(path.relative_to(results))] = hashlib.sha256(data).hexdigest()
    return out | {"segment_cache": sorted(cached)}


def _flatten(value):
    """Nested state dicts as a list of (path, bytes) that repr() writes out in full."""
    if isinstance(value, torch.Tensor):
        return value.numpy().tobytes()
    if isinstance(value, dict):
        return [(k, _flatten(v)) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))]
    if isinstance(value, (list, tuple)):
        return [_flatten(v) for v in value]
    return value


def test_a_second_run_from_scratch_is_bit_identical(done, tmp_path):
    """Same images, same config, fixed seed, CPU: every output file of the stack (masks, PSD tables,
    figures, model weights) is the same, byte for byte."""
    work = tmp_path / "again"
    shutil.copytree(done / "s1", work / "s1")
    snakemake_with(work, {"s1": STACKS["s1"]}, "--cores", "2")
    first, second = digests(done / "results" / "s1"), digests(work / "results" / "s1")
    assert "psd/particles.csv" in first and "npssegnet/model.pt" in first
    assert sum(name.startswith("segmentation/") and name.endswith(".png") and name.count("/") == 1
               for name in first) == len(IMAGES)  # the answers (the candidates are in segmentation/*/)
    assert first == second


# Every setting of the schema against workflow/schemas/reruns.yaml: what a changed value makes Snakemake rerun.

SCHEMA = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
RERUNS = yaml.safe_load((ROOT / "workflow/schemas/reruns.yaml").read_text())
STEP_SECTIONS = [key for key, node in SCHEMA["properties"]["stacks"]["additionalProperties"]["properties"].items()
                 if "$ref" in node]


def schema_settings() -> dict[str, dict]:
    """{dotted key: its schema} of every leaf setting: global ones (`seed`, `pix2pix.lr`, `experimental.npssegnet.members`,
    ...) and those of a stack entry (`stacks.polarity`, `stacks.crop.top`, ...; its step sections are the global ones).
    A global section lists its own keys with their defaults beside a $ref to the types of every key of the step."""
    def leaves(prefix, node):
        types = SCHEMA["$defs"][node["$ref"].rsplit("/", 1)[1]] if "$ref" in node else {}
        children = node.get("properties") or types.get("properties")
        if children is None:
            return {prefix: {**types, **node}}
        kinds = types.get("properties", {})
        return {k: v for key, child in children.items()
                for k, v in leaves(f"{prefix}.{key}", {**kinds.get(key, {}), **child}).items()}

    settings = {}
    for key, node in SCHEMA["properties"].items():
        if key == "stacks":
            for entry, child in node["additionalProperties"]["properties"].items():
                if "$ref" not in child:
                    settings |= leaves(f"stacks.{entry}", child)
            own = SCHEMA["$defs"]["stack_experimental"]["properties"]  # beside the step sections' experimental keys
            settings |= {f"stacks.experimental.{key}": child for key, child in own.items() if "$ref" not in child}
        else:
            settings |= leaves(key, node)
    return settings


def declared_reruns(key: str):
    """The table's entry for a key: its own, or that of the section it belongs to."""
    parts = key.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in RERUNS:
            return RERUNS[".".join(parts[:n])]
    raise AssertionError(f"setting {key}: no entry in workflow/schemas/reruns.yaml (what does a change rerun?)")


def changed_value(schema: dict, value):
    """A valid value other than `value` for a setting of this schema."""
    kinds = schema.get("type", [])
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "enum" in schema:  # not set (a stack's polarity): the last value, not the first, which is the default
        return schema["enum"][-1] if value is None else next(v for v in schema["enum"] if v != value)
    if "boolean" in kinds:
        return not value
    if "array" in kinds:
        items = schema["items"]
        if "enum" in items:
            return [next(v for v in items["enum"] if v not in value)]
        return [value[0] + 8, *value[1:]]
    if "integer" in kinds or "number" in kinds:
        step = schema.get("multipleOf", 1 if "integer" in kinds else None)
        if value is None:  # not set: any valid number
            candidates = [max(schema.get("minimum", 1), 1)]
        else:
            candidates = [value + step, value - step] if step else [value / 2, 0.1, 0.5]
        for new in candidates:
            if (new != value and new >= schema.get("minimum", new) and new > schema.get("exclusiveMinimum", new - 1)
                    and new <= schema.get("maximum", new) and new < schema.get("exclusiveMaximum", new + 1)):
                return new
    if "pattern" in schema:  # device
        return "auto" if value != "auto" else "cpu"
    return f"{value}_changed.pt"  # names and paths: nothing a dry run opens


def merged(*configs: dict) -> dict:
    out = {}
    for config in configs:
        for key, value in config.items():
            out[key] = merged(out.get(key, {}), value) if isinstance(value, dict) else value
    return out


def current_value(config: dict, stack: str, key: str):
    node = config["stacks"][stack] if key.startswith("stacks.") else config
    for part in key.split(".")[1:] if key.startswith("stacks.") else key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def nested(key: str, value) -> dict:
    for part in reversed(key.split(".")):
        value = {part: value}
    return value


def rules_by_stack(output: str) -> dict[str, set[str]]:
    out = {stack: set() for stack in STACKS}
    for rule, stack, _ in planned_jobs(output):
        out[stack].add(rule)
    return out


def base_config() -> dict:
    """The tests' config as the workflow merges it (config/config.yaml, config/tiny.yaml, tests/fast.yaml, STACKS)."""
    return merged(*(yaml.safe_load(path.read_text()) for path in
                    (ROOT / "config/config.yaml", ROOT / "config/tiny.yaml", FAST)), {"stacks": STACKS})


def test_the_table_names_only_settings_and_its_refused_settings_are_refused():
    """No entry of reruns.yaml names a setting the schema lacks, and each setting it calls `refused`, changed alone
    on the tests' config, is refused before any job with a message that names it."""
    settings = schema_settings()
    assert not [key for key in RERUNS if not any(s == key or s.startswith(key + ".") for s in settings)]
    validated = validate_config(base_config())
    refused = [key for key in settings if declared_reruns(key) == "refused"]
    assert len(refused) >= 8
    for key in refused:
        change = nested(key, changed_value(settings[key], current_value(validated, "s1", key)))
        with pytest.raises(ValueError, match=re.escape(key.rsplit(".", 1)[-1])):
            validate_config(merged(base_config(), change))


def test_every_setting_reruns_what_the_table_declares(done):
    """For every leaf key of the config schema, a changed value on the finished run makes Snakemake (dry run,
    default rerun triggers) plan exactly the table's steps and what is downstream of them (which Snakemake's
    own --forcerun of those steps gives), for the stack whose setting changed and no other. Step and stack
    settings are changed two at a time, one in each stack; global settings one at a time, in both."""
    base = validate_config(base_config())
    forced = {}

    def expected(entry) -> dict[str, set[str]]:
        """The steps an entry names and what is downstream of each: Snakemake's --forcerun of each step alone
        (of all at once, Snakemake would not follow the imports' ancient gate from a forced validate_inputs)."""
        rules = [] if entry == "none" else [entry] if isinstance(entry, str) else entry
        for rule in rules:
            if rule not in forced:
                forced[rule] = rules_by_stack(snakemake_with(done, STACKS, "-n", "--forcerun", rule))
        return {stack: set().union(*(forced[rule][stack] for rule in rules)) for stack in STACKS}

    def plan(change: dict) -> dict[str, set[str]]:
        output = snakemake_with(done, {}, "-n", changed=merged({"stacks": STACKS}, change))
        return rules_by_stack(output)

    settings = {key: schema for key, schema in schema_settings().items()
                if declared_reruns(key) not in ("structure", "refused")}
    per_stack = [key for key in settings if key.startswith("stacks.") or key.split(".")[0] in STEP_SECTIONS]
    mismatches = []
    for pair in (per_stack[i:i + 2] for i in range(0, len(per_stack), 2)):
        keys = dict(zip(STACKS, pair))  # stack -> the key changed in it (the last pair may change one stack)
        planned = plan({"stacks": {stack: nested(key.removeprefix("stacks."),
                                                 changed_value(settings[key], current_value(base, stack, key)))
                                   for stack, key in keys.items()}})
        for stack in STACKS:
            rules = expected(declared_reruns(keys[stack]))[stack] if stack in keys else set()
            if planned[stack] != rules:
                mismatches.append(f"{keys.get(stack, 'no setting')} (stack {stack}): declared {sorted(rules)}, "
                                  f"Snakemake reruns {sorted(planned[stack])}")
    for key in (key for key in settings if key not in per_stack):
        planned = plan(nested(key, changed_value(settings[key], current_value(base, "s1", key))))
        rules = expected(declared_reruns(key))
        mismatches += [f"{key} (stack {stack}): declared {sorted(rules[stack])}, Snakemake reruns {sorted(planned[stack])}"
                       for stack in STACKS if planned[stack] != rules[stack]]
    assert len(schema_settings()) > 90 and len(settings) >= 80  # every section's keys were enumerated
    assert not mismatches, "\n".join(mismatches)
def _write(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path
