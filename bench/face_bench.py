"""Time one kiosk face verification on a 1280x720 frame: backend.faces.verify vs stock face_recognition.

Run: .venv/bin/python bench/face_bench.py [-n 30] [--face-height 512]
Single core: BLAS/OpenMP pools are pinned to one thread before numpy/dlib load, and the process is
pinned to one CPU where the OS allows it. dlib-bin is built without BLAS and its CPU DNN code is
single-threaded, so the pinning mainly keeps numpy and the scheduler honest.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from skimage import data  # noqa: E402

from backend import faces  # noqa: E402


def import_stock_face_recognition():
    """Import face_recognition even where setuptools no longer ships pkg_resources (>= 81)."""
    # face_recognition_models only uses pkg_resources.resource_filename; a stand-in that lives only
    # for this import is enough, and removing it keeps other libraries' feature checks truthful.
    from PIL import ImageFile

    truncated = ImageFile.LOAD_TRUNCATED_IMAGES
    shim = None
    if importlib.util.find_spec("pkg_resources") is None:
        shim = types.ModuleType("pkg_resources")
        shim.resource_filename = lambda pkg, name: os.path.join(
            os.path.dirname(sys.modules[pkg].__file__), name)
        sys.modules["pkg_resources"] = shim
    try:
        import face_recognition
    finally:
        if shim is not None and sys.modules.get("pkg_resources") is shim:
            del sys.modules["pkg_resources"]
        ImageFile.LOAD_TRUNCATED_IMAGES = truncated  # face_recognition flips this global on import
    return face_recognition


def kiosk_frame(face_height: int) -> np.ndarray:
    """The astronaut photo scaled to `face_height` px tall, centred on a grey 1280x720 canvas."""
    astro = Image.fromarray(data.astronaut()).resize((face_height, face_height), Image.BILINEAR)
    canvas = Image.new("RGB", (1280, 720), (128, 128, 128))
    canvas.paste(astro, ((1280 - face_height) // 2, (720 - face_height) // 2))
    return np.asarray(canvas)


def timed(fn, n: int) -> tuple[float, float, object]:
    """Median and p90 wall time in ms over n calls (after one warm-up call), plus the last result."""
    result = fn()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(n - 1, int(round(0.9 * (n - 1))))], result


def main() -> None:
    """Print the comparison table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=30, help="repetitions per measurement")
    parser.add_argument("--face-height", type=int, nargs="*", default=[512, 720],
                        help="astronaut photo height(s) in the 1280x720 frame (512 -> face ~88 px)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the process to one CPU")
    args = parser.parse_args()
    if not args.no_pin and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"

    import dlib

    face_recognition = import_stock_face_recognition()
    template = faces.enroll_template(data.astronaut())
    print(f"dlib {dlib.__version__} (AVX={dlib.USE_AVX_INSTRUCTIONS}, BLAS={dlib.DLIB_USE_BLAS}, "
          f"CUDA={dlib.DLIB_USE_CUDA}); CPUs allowed: {cpus}; n={args.n}")
    print(f"{'frame':<26}{'method':<44}{'median ms':>10}{'p90 ms':>9}  result")
    for height in args.face_height:
        frame = kiosk_frame(height)
        label = f"1280x720, photo {height}px"
        cpu0 = time.process_time()
        med, p90, (matched, dist, reason) = timed(lambda f=frame: faces.verify(f, template), args.n)
        cpu_ratio = (time.process_time() - cpu0) / ((args.n + 1) * med / 1000)
        print(f"{label:<26}{'faces.verify (ours)':<44}{med:>10.1f}{p90:>9.1f}  "
              f"matched={matched} distance={dist if dist is None else round(dist, 3)} reason={reason} "
              f"cpu/wall={cpu_ratio:.2f}")
        med, p90, encs = timed(lambda f=frame: face_recognition.face_encodings(f), args.n)
        dists = [round(float(np.linalg.norm(np.asarray(e) - template)), 3) for e in encs]
        print(f"{label:<26}{'face_recognition.face_encodings(frame)':<44}{med:>10.1f}{p90:>9.1f}  "
              f"{len(encs)} face(s), distances={dists}")
    # Same models and calls as the stock library: given the same box, the encodings must be identical.
    frame = kiosk_frame(args.face_height[0])
    box = faces.detect_faces(frame)[0]
    ours = np.asarray(faces.encode_face(frame, box))
    stock = face_recognition.face_encodings(frame, known_face_locations=[(box.top, box.right, box.bottom, box.left)],
                                            num_jitters=1, model="small")[0]
    print(f"encoding parity with face_recognition (same box, model=small): max |diff| = "
          f"{float(np.max(np.abs(ours - stock))):.2e}")


if __name__ == "__main__":
    main()
