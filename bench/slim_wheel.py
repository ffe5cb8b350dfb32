"""Drop files from a wheel, in place: a device call carries at most 64 MiB. Unsloth's wheel is
mostly its `studio/` web app, which `import unsloth` never loads; bitsandbytes' carries a CUDA
library for every CUDA version, of which the GPU machine (torch 2.11, CUDA 13) loads one.

    python bench/slim_wheel.py WHEEL PATTERN [PATTERN ...]

A pattern is a top-level folder (`studio`) or a glob over the path in the wheel
(`bitsandbytes/libbitsandbytes_cuda1[12]*.so`).
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import os
import sys
import zipfile


def slim(path: str, drop: set[str]) -> None:
    tmp = path + ".tmp"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        record_name, rows = None, []
        for info in src.infolist():
            if info.filename.split("/")[0] in drop or any(fnmatch.fnmatch(info.filename, p) for p in drop):
                continue
            if info.filename.endswith(".dist-info/RECORD"):
                record_name = info.filename
                continue
            data = src.read(info)
            dst.writestr(info, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            rows.append(f"{info.filename},sha256={digest},{len(data)}")
        if record_name is None:
            raise SystemExit(f"{path}: no RECORD")
        dst.writestr(record_name, "\n".join([*rows, f"{record_name},,"]) + "\n")
    os.replace(tmp, path)


if __name__ == "__main__":
    slim(sys.argv[1], set(sys.argv[2:]))
