"""Play microscope for `tgan watch`: copy the demo images into a folder one by one.

    python bench/feed_demo.py FOLDER [--interval 3] [--images resources/demo/images]

Every image is copied `interval` seconds after the previous one; after the second, a truncated copy
(`broken_transfer.jpg`, the first half of an image: the watcher must name it and go on), and the third image
is written in slow chunks (four parts, half a second apart: the watcher must wait until it is complete).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--interval", type=float, default=3.0)
    parser.add_argument("--images", type=Path, default=ROOT / "resources" / "demo" / "images")
    args = parser.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    images = sorted(p for p in args.images.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".tif"))
    for i, source in enumerate(images):
        data = source.read_bytes()
        target = args.folder / source.name
        if i == 2:
            with open(target, "wb") as file:
                for k in range(4):
                    file.write(data[k * len(data) // 4:(k + 1) * len(data) // 4])
                    file.flush()
                    time.sleep(0.5)
            print(f"{target}: written in 4 slow chunks", flush=True)
        else:
            target.write_bytes(data)
            print(f"{target}", flush=True)
        if i == 1:
            broken = args.folder / f"broken_transfer{source.suffix}"
            broken.write_bytes(data[: len(data) // 2])
            print(f"{broken}: truncated (half of {source.name})", flush=True)
        time.sleep(args.interval)


if __name__ == "__main__":
    main()
