"""Re-assess a finished stack's saved candidates with the current floor and quality estimate (tgan.quality), without
the network: to measure a change of tgan.quality on a dev or bench run in seconds instead of re-segmenting.

    python bench/requality.py STACK [STACK ...]   (then: python bench/dev.py --score-only)

For each stack, reads results/STACK/segmentation/: NPsSegNet's and the rough masks (npssegnet/, rough_masks/),
NPsSegNet's flip agreement from quality.csv (it needs the network; nothing else is read from the old figures) and
method.json (the rough_masks rung: NPsSegNet may not answer), and the imported images; rewrites each image's
answer (segmentation/NAME.png) and quality.csv as `segment` would with the current tgan.quality. The PSD is not
redone (psd/ keeps the old answers): the scores of bench/dev.py read the masks.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from tgan import quality  # noqa: E402
from tgan.annotations import ignore_mask  # noqa: E402
from tgan.files import write_csv  # noqa: E402
from tgan.images import read_image, read_mask, write_mask  # noqa: E402


def requality(stack: str) -> pd.DataFrame:
    seg = ROOT / "results" / stack / "segmentation"
    if not (seg / "quality.csv").is_file():
        sys.exit(f"{seg / 'quality.csv'}: not found; run the stack's segment step first")
    old = pd.read_csv(seg / "quality.csv").set_index("image")
    may_answer = json.loads((seg / "method.json").read_text())["method"] != "rough_masks"
    rows = []
    for name in tqdm(old.index, desc=stack, unit="image"):
        image = read_image(ROOT / "results" / stack / "images" / f"{name}.png")
        record = json.loads((ROOT / "results" / stack / "images" / f"{name}.json").read_text())
        ignore = ignore_mask(image.shape, record)
        npssegnet, rough = (read_mask(seg / folder / f"{name}.png") & ~ignore for folder in ("npssegnet", "rough_masks"))
        answer, figures = quality.decide(image, npssegnet, rough, float(old.loc[name, "agreement_flips"]), may_answer,
                                         ignore)
        for path, mask in ((seg / f"{name}.png", answer), (seg / "npssegnet" / f"{name}.png", npssegnet),
                           (seg / "rough_masks" / f"{name}.png", rough)):
            write_mask(path, mask)
        rows.append({"image": name, **figures})
    table = pd.DataFrame(rows)
    table["doubtful"] = quality.doubtful(table["quality"].to_numpy())
    write_csv(seg / "quality.csv", table)
    return table


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for stack in sys.argv[1:]:
        table = requality(stack)
        print(f"{stack}: {len(table)} images, rough masks answer {(table['answer'] == 'rough_masks').sum()}, "
              f"mean quality {table['quality'].mean():.3f}")
