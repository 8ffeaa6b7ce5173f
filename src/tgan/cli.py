"""The `tgan` command (console entry point of the package): `tgan watch` analyses a live session.

    tgan watch --model demo --configfile config/presets/cpu.yaml config/demo.yaml --folder /data/insitu --out live/insitu

The model is a stack name (results/STACK/npssegnet/model.pt under --workdir) or a model file; the
settings (pixel size, crop, segment and psd options) are the stack's, from the config as the workflow
reads it: the workflow's config/config.yaml, then the --configfile files (later files override earlier
ones, stacks: NAME: overrides the sections), checked and completed with the schema's defaults by the function the
Snakefile calls (options.validate_config).
"""

from __future__ import annotations

import argparse
import copy
import logging
import sys
from pathlib import Path

import yaml

from .options import WORKFLOW, PSDOptions, SegmentOptions, from_dict, stack_section, validate_config


def _merge(base: dict, update: dict) -> dict:
    """Snakemake's --configfile semantics: nested dictionaries are merged, other values replaced."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_config(files: list[str]) -> dict:
    """The config as the Snakefile loads it: config/config.yaml of the workflow, then `files` in order, validated
    and completed with the schema's defaults as the Snakefile does (an error names the key)."""
    config: dict = {}
    for path in [WORKFLOW / "config" / "config.yaml", *map(Path, files)]:
        if not path.is_file():
            raise SystemExit(f"{path}: config file does not exist")
        config = _merge(config, yaml.safe_load(path.read_text()) or {})
    try:
        return validate_config(config)
    except ValueError as err:
        raise SystemExit(f"config ({', '.join(map(str, files)) or 'defaults'}): {err}") from None


def model_path(model: str, workdir: Path) -> Path:
    """A model file, or the NPsSegNet of a stack that the workflow trained."""
    path = Path(model)
    if path.is_file():
        return path
    trained = workdir / "results" / model / "npssegnet" / "model.pt"
    if trained.is_file():
        return trained
    raise SystemExit(f"--model {model}: neither a model file nor a trained stack ({trained} does not exist; "
                     "run the workflow for that stack first)")


def stack_settings(config: dict, stack: str | None):
    """The watcher's Settings of `stack` (or of the config's sections alone when no stack is named)."""
    from .watch import Settings

    stacks = config.get("stacks") or {}
    if stack is not None and stack not in stacks:
        raise SystemExit(f"--stack {stack}: not a stack of the config files (stacks: {', '.join(stacks) or 'none'})")
    # without a stack: the stack-level defaults, as the schema fills them into every stack
    entry = stacks[stack] if stack else {"polarity": _stack_default("polarity"), "crop": None, "pixel_size_nm": None}
    return Settings(name=stack or "live", pixel_size_nm=entry["pixel_size_nm"], crop=entry["crop"] or None,
                    segment=from_dict(SegmentOptions, stack_section(config, stack, "segment")),
                    psd=from_dict(PSDOptions, stack_section(config, stack, "psd")),
                    polarity=entry["polarity"], rough_masks=stack_section(config, stack, "rough_masks"))


def _stack_default(key: str):
    from .options import schema

    return schema()["properties"]["stacks"]["additionalProperties"]["properties"][key]["default"]


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="tgan", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = top.add_subparsers(dest="command", required=True)
    watch = commands.add_parser("watch", help="segment and measure each new frame of a folder; live page",
                                description="Segment and measure each new frame of a folder as it arrives.")
    watch.add_argument("--model", required=True, help="stack name (results/STACK/npssegnet/model.pt) or model file")
    watch.add_argument("--folder", required=True, type=Path, help="folder the microscope writes frames to")
    watch.add_argument("--out", required=True, type=Path, help="output folder (the same folder continues a session)")
    watch.add_argument("--configfile", nargs="*", default=[],
                       help="config files, over the workflow's config/config.yaml (as snakemake --configfile)")
    watch.add_argument("--stack", help="stack whose settings apply (default: --model when it names a stack)")
    watch.add_argument("--workdir", type=Path, default=Path("."), help="where results/ of the workflow is")
    watch.add_argument("--skip-existing", action="store_true", help="leave out files already in the folder")
    watch.add_argument("--settle", type=float, default=1.0,
                       help="seconds a file's size and time must stay unchanged before it is read (default 1)")
    watch.add_argument("--poll", type=float, default=0.25, help="seconds between looks at the folder")
    watch.add_argument("--last", type=int, default=20, help="frames in the live PSD histogram (default 20)")
    watch.add_argument("--host", default="127.0.0.1", help="address of the live page (default 127.0.0.1)")
    watch.add_argument("--port", type=int, default=8765, help="port of the live page; 0: a free one")
    watch.add_argument("--no-server", action="store_true", help="write the page's files, serve nothing")
    watch.add_argument("--device", default=None, help="auto, cpu, cuda (default: the config's device)")
    watch.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    watch.add_argument("--fast", action="store_true",
                       help="NPsSegNet's mask alone, one forward pass per frame: no rough mask, flips or quality estimate")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout, force=True)
    if not args.folder.is_dir():
        raise SystemExit(f"--folder {args.folder}: folder does not exist")
    config = load_config(args.configfile)
    path = model_path(args.model, args.workdir)
    stack = args.stack or (args.model if args.model in (config.get("stacks") or {}) else None)
    settings = stack_settings(config, stack)
    args.out.mkdir(parents=True, exist_ok=True)
    logging.getLogger().addHandler(_file_log(args.out / "watch.log"))

    from . import live
    from .npssegnet import load_model
    from .training import pick_device, set_threads
    from .watch import Watcher

    if args.threads:
        set_threads(args.threads)
    device = pick_device(args.device or config["device"])
    net = load_model(path, device)
    pixel_size = f"{settings.pixel_size_nm} nm" if settings.pixel_size_nm else "from the files"
    logging.info("model %s on %s; settings of %s: pixel size %s, crop %s", path, device, settings.name, pixel_size,
                 settings.crop or "none")
    rough = None if args.fast else rough_segmenter(settings, device, args.workdir)
    watcher = Watcher(net, device, args.folder, args.out, settings, settle=args.settle, poll=args.poll,
                      skip_existing=args.skip_existing, last_n=args.last, rough=rough)
    watcher.render()
    server = None
    if not args.no_server:
        server = live.serve(args.out, args.host, args.port)
        host, port = server.server_address[:2]
        logging.info("live page: http://%s:%d/", host, port)
    try:
        watcher.run()
    finally:
        if server is not None:
            server.shutdown()
    return 0


def rough_segmenter(settings, device, workdir: Path):
    """The stack's rough-mask segmenter (its rough_masks method and settings, as in the workflow); method model
    takes the NPsSegNet of the stack named in from_stack."""
    from .rough_masks import make_segmenter

    model = None
    if settings.rough_masks["method"] == "model":
        model = model_path(settings.rough_masks["from_stack"], workdir)
    return make_segmenter(settings.rough_masks, settings.polarity, device, model, settings.segment)


def _file_log(path: Path) -> logging.Handler:
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    return handler


if __name__ == "__main__":
    sys.exit(main())
