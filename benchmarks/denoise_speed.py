"""Where the denoiser's time goes on this machine: the 3D U-Net's inference and training step under the options
torch offers (threads, tile batch size, memory layout, torch.compile, half precision on a GPU).

bfloat16 autocast on a CPU without native bfloat16 (the AMD EPYC of these machines: AVX2, no AVX-512) is left
out: one 32×64×64 tile took 52 s against 0.27 s in float32 (measured once, by hand).

Run ``python benchmarks/denoise_speed.py`` (``--device cuda`` on a GPU).  Prints two markdown tables: inference
(tiles of 32×64×64, the CPU default, i.e. twice the CPU training patch; frames per second at 512×512, counting
the tiles' 25% overlap as the workflow does) and training (steps per second at the default patch and batch).
Each row is timed after warm-up runs, as the median of repeats.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import statistics
import time
from collections.abc import Callable

import torch

from nwb_cascade.denoise.network import UNet3D
from nwb_cascade.denoise.train import movie_units_loss

log = logging.getLogger("denoise_speed")


def timed(run: Callable[[], None], repeats: int, warmup: int = 2, sync: Callable[[], None] = lambda: None) -> float:
    """Median seconds of ``run`` after ``warmup`` calls."""
    for _ in range(warmup):
        run()
    sync()
    seconds = []
    for _ in range(repeats):
        began = time.perf_counter()
        run()
        sync()
        seconds.append(time.perf_counter() - began)
    return statistics.median(seconds)


def tiles_per_frame(size: int, tile: int, overlap: float = 0.25) -> float:
    """Tiles of ``tile`` px covering a ``size``-px axis with neighbouring tiles sharing ``overlap`` of a tile."""
    step = tile * (1 - overlap)
    return max(1.0, (size - tile) / step + 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default=None)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--frame-size", type=int, default=512, help="frames of this many px square, for frames/s")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cuda = device.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    tile = (64, 128, 128) if cuda else (32, 64, 64)
    patch = (32, 64, 64) if cuda else (16, 32, 32)
    threads = torch.get_num_threads()
    torch.manual_seed(0)

    # Inference: one forward pass over a batch of tiles, rows of options.
    time_step = tile[0] * (1 - 0.25)  # frames kept per temporal block
    plane_tiles = tiles_per_frame(args.frame_size, tile[1]) * tiles_per_frame(args.frame_size, tile[2])
    rows = []
    variants: list[tuple[str, dict]] = [
        ("default layout, batch 1", {"batch": 1}),
        ("default layout, batch 4", {"batch": 4}),
        ("channels-last, batch 1", {"batch": 1, "channels_last": True}),
        ("channels-last, batch 4", {"batch": 4, "channels_last": True}),
        ("channels-last, batch 8", {"batch": 8, "channels_last": True}),
        ("torch.compile, batch 4", {"batch": 4, "compile": True}),
    ]
    if cuda:
        variants.append(("float16 autocast, batch 4", {"batch": 4, "half": True}))
    elif threads > 1:
        variants.insert(4, ("channels-last, batch 4, 1 thread", {"batch": 4, "channels_last": True, "threads": 1}))
    print(f"package default on {device.type}: {'channels-last' if device.type == 'cpu' else 'default layout'}, "
          "batch 4", flush=True)
    for label, option in variants:
        network = UNet3D().to(device).eval()
        x = torch.randn(option["batch"], 1, *tile, device=device)
        if option.get("channels_last"):
            network = network.to(memory_format=torch.channels_last_3d)
            x = x.contiguous(memory_format=torch.channels_last_3d)
        if option.get("compile"):
            network = torch.compile(network)
        autocast = torch.autocast(device.type, dtype=torch.float16) if option.get("half") else contextlib.nullcontext()
        torch.set_num_threads(option.get("threads", threads))

        def forward(network=network, x=x, autocast=autocast) -> None:
            with torch.inference_mode(), autocast:
                network(x)

        try:
            seconds = timed(forward, args.repeats, sync=sync)
        except Exception as error:  # noqa: BLE001 - an option this torch/CPU lacks is a row saying so
            rows.append((label, "failed", str(error).splitlines()[0][:60], ""))
            continue
        finally:
            torch.set_num_threads(threads)
        per_tile = seconds / option["batch"]
        fps = time_step / (plane_tiles * per_tile)
        rows.append((label, f"{1000 * per_tile:.0f}", f"{fps:.2f}", ""))
        log.warning("%s: %.0f ms per tile", label, 1000 * per_tile)
    peak = f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB" if cuda else ""
    print(f"\nInference on {device} ({threads} threads), tiles {'×'.join(map(str, tile))}:\n")
    print(f"| variant | ms per tile | frames/s at {args.frame_size}×{args.frame_size} |")
    print("|---|---:|---:|")
    for label, ms, fps, _ in rows:
        print(f"| {label} | {ms} | {fps} |")
    if peak:
        print(f"\npeak GPU memory: {peak}")

    # Training: one Adam step of the default patch and batch (2).
    rows = []
    training = [("default layout", {}), ("channels-last", {"channels_last": True}), ("torch.compile", {"compile": True})]
    if cuda:
        training.append(("float16 autocast", {"half": True}))
    for label, option in training:
        network = UNet3D().to(device).train()
        optimiser = torch.optim.Adam(network.parameters(), lr=1e-3)
        x = torch.randn(2, 1, *patch, device=device)
        y = torch.randn(2, 1, *patch, device=device)
        if option.get("channels_last"):
            network = network.to(memory_format=torch.channels_last_3d)
            x, y = (v.contiguous(memory_format=torch.channels_last_3d) for v in (x, y))
        model = torch.compile(network) if option.get("compile") else network
        autocast = torch.autocast(device.type, dtype=torch.float16) if option.get("half") else contextlib.nullcontext()

        def step(model=model, optimiser=optimiser, x=x, y=y, autocast=autocast) -> None:
            optimiser.zero_grad(set_to_none=True)
            with autocast:
                loss = movie_units_loss(model(x).float(), y, 1.0)
            loss.backward()
            optimiser.step()

        try:
            seconds = timed(step, args.repeats * 4, warmup=3, sync=sync)
        except Exception as error:  # noqa: BLE001
            rows.append((label, "failed: " + str(error).splitlines()[0][:60]))
            continue
        rows.append((label, f"{1 / seconds:.1f}"))
    print(f"\nTraining on {device}, patch {'×'.join(map(str, patch))}, batch 2:\n")
    print("| variant | steps/s |")
    print("|---|---:|")
    for label, rate in rows:
        print(f"| {label} | {rate} |")


if __name__ == "__main__":
    main()
