#!/usr/bin/env python3
"""Converts torchvision's ImageNet AlexNet weights into the file cxr-eval's LPIPS reads
(--lpips-backbone): the five convolutions of `features` as raw little-endian float32 plus a JSON
layout, the same format as ../shared/data/lpips/converted.

The weights are not part of this project (and cannot be downloaded on its build machines). On a
machine with torchvision and internet access:

    python3 -c "import torchvision; torchvision.models.alexnet(weights='IMAGENET1K_V1')"   # caches the .pth
    python3 scripts/convert_alexnet_weights.py ~/.cache/torch/hub/checkpoints/alexnet-owt-7be5be79.pth alexnet_features.json

then copy alexnet_features.json and alexnet_features.f32 to the cluster and run
`cxr-eval ... --lpips-backbone alexnet_features.json --lpips-lin .../lpips_v0.1_alex.json`.
"""
import json
import sys
from pathlib import Path

import torch

NAMES = [f"features.{i}.{kind}" for i in (0, 3, 6, 8, 10) for kind in ("weight", "bias")]

if len(sys.argv) != 3:
    sys.exit(__doc__)
state = torch.load(sys.argv[1], map_location="cpu", weights_only=True)
out = Path(sys.argv[2])
layout, blob = [], bytearray()
for name in NAMES:
    if name not in state:
        sys.exit(f"{sys.argv[1]}: no tensor {name}: not a torchvision AlexNet state dict")
    t = state[name].detach().to(torch.float32).contiguous()
    data = t.numpy().astype("<f4").tobytes()
    layout.append({"name": name, "shape": list(t.shape), "dtype": "float32_le", "offset_bytes": len(blob), "nbytes": len(data)})
    blob += data
out.with_suffix(".f32").write_bytes(bytes(blob))
out.write_text(json.dumps({"source": Path(sys.argv[1]).name, "tensors": layout}, indent=1) + "\n")
print(f"wrote {out} and {out.with_suffix('.f32')}: {sum(t['nbytes'] for t in layout) // 4} parameters")
