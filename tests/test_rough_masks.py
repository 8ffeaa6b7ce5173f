import ast
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from segment_anything import SamAutomaticMaskGenerator
from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

from burned_in import with_scale_bar, write_text
from synthetic import particle_image
from tgan import networks
from tgan.annotations import annotation_regions, ignore_mask
from tgan.options import SegmentOptions, defaults
from tgan.quality import iou
from tgan.rough_masks import load_sam, make_segmenter, sam_mask
from tgan.training import save_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def tiny_sam(seed=0) -> Sam:
    """A randomly initialised SAM small enough for a CPU test (64 px input, 32-d embeddings)."""
    torch.manual_seed(seed)
    dim = 32
    return Sam(
        image_encoder=ImageEncoderViT(img_size=64, patch_size=16, embed_dim=dim, depth=1, num_heads=2, out_chans=dim),
        prompt_encoder=PromptEncoder(embed_dim=dim, image_embedding_size=(4, 4), input_image_size=(64, 64),
                                     mask_in_chans=4),
        mask_decoder=MaskDecoder(transformer_dim=dim, transformer=TwoWayTransformer(depth=1, embedding_dim=dim,
                                                                                    mlp_dim=64, num_heads=2),
                                 iou_head_depth=1, iou_head_hidden_dim=16),
    ).eval()


class FakeGenerator:
    def __init__(self, records):
        self.records = records

    def generate(self, rgb):
        assert rgb.dtype == np.uint8 and rgb.shape[-1] == 3
        return [{"segmentation": r} for r in self.records]


def box(shape, y0, y1, x0, x1):
    m = np.zeros(shape, bool)
    m[y0:y1, x0:x1] = True
    return m


def test_sam_mask_keeps_particle_like_masks_only():
    image = np.full((100, 100), 0.5, np.float32)
    image[10:20, 10:20] = 0.9   # bright particle
    image[50:60, 50:60] = 0.1   # dark particle
    bright, dark, huge = box(image.shape, 10, 20, 10, 20), box(image.shape, 50, 60, 50, 60), box(image.shape, 0, 40, 0, 40)
    gen = FakeGenerator([bright, dark, huge])
    assert np.array_equal(sam_mask(image, gen, "bright", 0.05), bright)
    assert np.array_equal(sam_mask(image, gen, "dark", 0.05), dark)
    assert np.array_equal(sam_mask(image, gen, "bright", 0.9), bright | huge)


def test_tiny_sam_runs_through_segment_anything():
    image, _ = particle_image((64, 64), radii=(5,) * 4, seed=3)
    generator = SamAutomaticMaskGenerator(tiny_sam(), points_per_side=4, pred_iou_thresh=0.0,
                                          stability_score_thresh=0.0, box_nms_thresh=1.0)
    records = generator.generate(np.repeat((image * 255).astype(np.uint8)[..., None], 3, -1))
    assert records, "the tiny SAM produced no masks at all"
    mask = sam_mask(image, generator, "bright", 1.0)
    assert mask.shape == image.shape and mask.dtype == bool
    # the union can only hold pixels of SAM's own masks
    union = np.logical_or.reduce([r["segmentation"] for r in records])
    assert not (mask & ~union).any()


def test_missing_sam_checkpoint_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="sam_vit_b.pth not found.*nothing is downloaded"):
        load_sam(tmp_path / "sam_vit_b.pth", "vit_b", torch.device("cpu"))
    with pytest.raises(FileNotFoundError, match="no SAM checkpoint configured"):
        make_segmenter({**defaults("rough_masks"), "method": "sam"}, "bright", torch.device("cpu"))
    with pytest.raises(ValueError, match="unknown SAM model_type"):
        load_sam(tmp_path / "x.pth", "vit_q", torch.device("cpu"))


def test_classical_method_is_the_default():
    image, labels = particle_image((128, 128), radii=(6,) * 8, seed=1)
    settings = defaults("rough_masks")
    assert settings["method"] == "classical" and settings["checkpoint"] is None
    mask = make_segmenter({**settings, "edge_level": 0.0}, "bright", torch.device("cpu"))(image)
    assert (mask & (labels > 0)).sum() / (mask | (labels > 0)).sum() > 0.6


def test_model_method_uses_the_other_stacks_npssegnet(tmp_path):
    net = networks.npssegnet("resnet18", [16, 8, 8], 3)
    torch.nn.init.constant_(net.segmentation_head[0].bias, 5.0)  # a model that says "particle" everywhere
    torch.nn.init.zeros_(net.segmentation_head[0].weight)
    arch = {"encoder": "resnet18", "encoder_depth": 3, "decoder_channels": [16, 8, 8]}
    save_checkpoint(tmp_path / "model.pt", {"kind": "npssegnet", "arch": arch, "state_dict": net.state_dict()})
    segment = make_segmenter({"method": "model", "edge_level": 0.0}, "dark", torch.device("cpu"), tmp_path / "model.pt")
    image = np.random.default_rng(0).random((70, 90), dtype=np.float32)
    assert segment(image).all()
    # the stack's segment settings apply: at a threshold above the model's 0.993 nothing is a particle
    strict = make_segmenter({"method": "model", "edge_level": 0.0}, "dark", torch.device("cpu"), tmp_path / "model.pt",
                            SegmentOptions(threshold=0.999))
    assert not strict(image).any()
    with pytest.raises(ValueError, match="from_stack"):
        make_segmenter({"method": "model"}, "dark", torch.device("cpu"))
    with pytest.raises(ValueError, match="unknown rough_masks method"):
        make_segmenter({"method": "otsu"}, "dark", torch.device("cpu"))


def test_the_rough_masks_leave_burned_in_annotations_out():
    """Bright particles on a dark film, a white panel label and a white scale bar burned in: left in, the label
    and bar take the classical segmenter's threshold for themselves (IoU with the particles about 0); with the
    regions the import finds (annotations.annotation_regions) painted over, the particles are found, and nothing
    is drawn on the annotations."""
    segmenter = make_segmenter({"method": "classical", "edge_level": 0.25}, "bright", torch.device("cpu"))
    image, labels, annotation = with_scale_bar((256, 256), seed=1)
    image = (0.15 + 0.5 * image).astype(np.float32)
    image[annotation] = 1.0
    image[4:28, 4:70] = 1.0
    write_text(image, 10, 8, 0.0)
    labels[:32, :74] = 0
    ignore = ignore_mask(image.shape, {"ignore": annotation_regions(image)})
    assert ignore[annotation].all() and ignore[4:28, 4:70].all()
    truth = labels > 0
    assert iou(segmenter(image) & ~ignore, truth) < 0.1
    mask = segmenter(image, ignore)
    assert iou(mask, truth) > 0.6 and not mask[ignore].any()


@pytest.mark.parametrize("script", ["rough_masks.py", "psd.py", "import_image.py", "validate_inputs.py"])
def test_the_jobs_that_run_no_network_do_without_torch(script):
    """Importing torch costs every job seconds (5 s on a 2-core host, more than the job's own work on a small stack):
    the classical rough-mask job, psd (which reruns on every PSD setting) and the import jobs load it only when they
    run a network. The script's imports run in a fresh interpreter; it names what pulled torch in if it does."""
    source = ast.parse((ROOT / "workflow" / "scripts" / script).read_text())
    imports = "\n".join(ast.unparse(node) for node in source.body if isinstance(node, (ast.Import, ast.ImportFrom)))
    check = f"import sys\n{imports}\nprint([m for m in ('torch', 'segmentation_models_pytorch') if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"{script} imports torch through:\n{imports}"
