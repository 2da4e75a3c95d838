"""Write the golden outputs of the official Flax ResNet18 for ``tests/test_resnet.py``.

The test compares ``lsa_utils.models.resnet.ResNet18`` with the network of the official code of
Ortiz-Jimenez, Moosavi-Dezfooli and Frossard (2021), ``models/jax/resnet.py`` of
github.com/gortizji/linearized-networks, run here unchanged (imported from a checkout), on
random inputs with random parameters and batch statistics. It needs Flax, which the project does
not install; a separate environment is enough:

    python3.11 -m venv /tmp/flaxenv
    /tmp/flaxenv/bin/pip install "jax==0.4.25" "jaxlib==0.4.25" "flax==0.8.2" "numpy<2"
    /tmp/flaxenv/bin/python tools/flax_golden.py --official /path/to/linearized-networks

(the official code pins flax 0.3.5 with jax 0.2.22; its ResNet module is plain ``flax.linen``
and runs unchanged on 0.8.2). The file written, ``tests/data/resnet18_flax_golden.npz``, holds
for each case the inputs, the Flax variables (``params/...``, ``batch_stats/...``, keys joined
by ``/``), the eval-mode output (running statistics), the train-mode output (batch statistics)
and the running statistics after that train-mode step.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn
from flax.traverse_util import flatten_dict, unflatten_dict

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "resnet18_flax_golden.npz"
# case name -> (activation, number of outputs, base width, input shape (n, H, W, C))
CASES = {"relu": (nn.relu, 1, 2, (4, 32, 32, 3)), "gelu": (nn.gelu, 3, 2, (3, 16, 16, 1))}


def official_resnet_module(checkout: Path):
    """``models/jax/resnet.py`` of the official checkout, imported by path (its package's
    ``__init__`` needs omegaconf, which the ResNet itself does not)."""
    path = checkout / "models" / "jax" / "resnet.py"
    if not path.is_file():
        raise SystemExit(f"{path} not found: --official must be a checkout of gortizji/linearized-networks")
    spec = importlib.util.spec_from_file_location("official_resnet", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def perturbed(tree, key, scale: float):
    """Every leaf plus ``scale`` times a standard normal draw, and every BatchNorm scale
    ``1 + scale * normal``: the residual branches, whose last scale Flax initialises to 0, count
    as much as the shortcuts, and the Dense bias is nonzero."""
    flat = flatten_dict(tree)
    keys = jax.random.split(key, len(flat))
    return unflatten_dict({
        path: (1.0 if path[-1] == "scale" else leaf) + scale * jax.random.normal(k, leaf.shape, leaf.dtype)
        for (path, leaf), k in zip(sorted(flat.items()), keys)})


def golden_case(resnet, name: str, activation, outputs: int, width: int, shape) -> dict[str, np.ndarray]:
    """One case: random inputs, the initial parameters plus noise (BatchNorm scales 1 + noise,
    so that every residual branch counts fully), random running statistics."""
    model = resnet.ResNet18(num_classes=outputs, num_filters=width, activation=activation)
    k_init, k_x, k_params, k_mean, k_var = jax.random.split(jax.random.PRNGKey(sum(map(ord, name))), 5)
    x = jax.random.normal(k_x, shape, jnp.float32)
    variables = model.init(k_init, x, train=False)
    params = perturbed(variables["params"], k_params, 0.3)
    flat_stats = flatten_dict(variables["batch_stats"])
    keys_mean = jax.random.split(k_mean, len(flat_stats))
    keys_var = jax.random.split(k_var, len(flat_stats))
    for (path, value), km, kv in zip(sorted(flat_stats.items()), keys_mean, keys_var):
        flat_stats[path] = (0.3 * jax.random.normal(km, value.shape) if path[-1] == "mean"
                            else jnp.exp(0.5 * jax.random.normal(kv, value.shape)))
    batch_stats = unflatten_dict(flat_stats)
    eval_out = model.apply({"params": params, "batch_stats": batch_stats}, x, train=False)
    train_out, updated = model.apply({"params": params, "batch_stats": batch_stats}, x, train=True,
                                     mutable=["batch_stats"])
    record = {"x": np.asarray(x), "eval_output": np.asarray(eval_out), "train_output": np.asarray(train_out),
              "activation": np.array(name), "width": np.array(width), "outputs": np.array(outputs)}
    for prefix, tree in [("params", params), ("batch_stats", batch_stats),
                         ("batch_stats_after_train", updated["batch_stats"])]:
        for path, value in flatten_dict(tree).items():
            record[prefix + "/" + "/".join(path)] = np.asarray(value)
    return record


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", type=Path, required=True, help="a checkout of gortizji/linearized-networks")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    resnet = official_resnet_module(args.official)
    arrays = {}
    for name, (activation, outputs, width, shape) in CASES.items():
        for key, value in golden_case(resnet, name, activation, outputs, width, shape).items():
            arrays[f"{name}:{key}"] = value
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB, {len(arrays)} arrays; "
          f"jax {jax.__version__}, flax {__import__('flax').__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
