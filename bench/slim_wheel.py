"""Drop top-level folders from a wheel, in place (Unsloth's wheel is mostly its `studio/` web app,
which `import unsloth` never loads, and a device call carries at most 64 MiB).

    python bench/slim_wheel.py WHEEL studio [FOLDER ...]
"""

from __future__ import annotations

import base64
import hashlib
import os
import sys
import zipfile


def slim(path: str, drop: set[str]) -> None:
    tmp = path + ".tmp"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        record_name, rows = None, []
        for info in src.infolist():
            if info.filename.split("/")[0] in drop:
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
