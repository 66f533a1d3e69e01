"""Generates the Python stubs (package `simmesh_proto`) from `protos/simmesh/**.proto`.

`python tools/genproto.py` rewrites `protos/python/simmesh_proto`; `--check` regenerates into a
temporary folder and fails, listing the files, when the committed stubs differ.

protoc names Python modules after proto paths (`simmesh/v1/x.proto` -> `simmesh.v1.x_pb2`),
which would collide with the server package `simmesh`; the generated imports are rewritten to
`simmesh_proto.v1` / `simmesh_proto.internal.v1`.
"""

from __future__ import annotations

import argparse
import filecmp
import re
import shutil
import sys
import tempfile
from pathlib import Path

import google.longrunning
import google.rpc
import grpc_tools
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
OUT_PACKAGE = ROOT / "protos" / "python" / "simmesh_proto"

# Only import statements and module-name strings: the serialized descriptors also contain
# `simmesh.v1.` (the proto package), which must stay as it is.
_MODULE_RE = re.compile(r"(?m)(^from |['\"])simmesh\.(v1|internal\.v1)(?=( import |\.\w+_pb2['\"]))")


def _googleapis_include(tmp: Path) -> Path:
    """An include folder with googleapis' protos under the paths other protos import them by.

    googleapis-common-protos ships `google/longrunning/operations_proto.proto`, registered as
    `google/longrunning/operations.proto`; protoc needs it under the registered name.
    """
    include = tmp / "googleapis"
    google_root = Path(google.rpc.__path__[0]).parent
    for sub in ("api", "rpc", "longrunning", "type"):
        src = google_root / sub
        if src.is_dir():
            generated = shutil.ignore_patterns("*.py", "*.pyi", "__pycache__")
            shutil.copytree(src, include / "google" / sub, ignore=generated)
    lro = Path(google.longrunning.__path__[0]) / "operations_proto.proto"
    shutil.copy(lro, include / "google" / "longrunning" / "operations.proto")
    return include


def generate(out_package: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        include = _googleapis_include(tmp)
        raw = tmp / "out"
        raw.mkdir()
        protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.glob("simmesh/**/*.proto"))
        args = [
            "grpc_tools.protoc",
            f"-I{PROTO_ROOT}",
            f"-I{include}",
            f"-I{Path(grpc_tools.__file__).parent / '_proto'}",
            f"--python_out={raw}",
            f"--pyi_out={raw}",
            f"--grpc_python_out={raw}",
            *protos,
        ]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
        if out_package.exists():
            shutil.rmtree(out_package)
        out_package.mkdir(parents=True)
        docstring = '"""Generated stubs for the simmesh gRPC contracts (`make proto`)."""\n'
        (out_package / "__init__.py").write_text(docstring)
        (out_package / "py.typed").write_text("")
        for src in sorted((raw / "simmesh").rglob("*")):
            rel = src.relative_to(raw / "simmesh")
            dst = out_package / rel
            if src.is_dir():
                dst.mkdir(parents=True, exist_ok=True)
                (dst / "__init__.py").write_text("")
                continue
            dst.write_text(_MODULE_RE.sub(lambda m: f"{m.group(1)}simmesh_proto.{m.group(2)}", src.read_text()))


def _differences(a: Path, b: Path) -> list[str]:
    cmp = filecmp.dircmp(a, b, ignore=["__pycache__"])
    out = [f"only in committed: {n}" for n in cmp.left_only] + [f"missing: {n}" for n in cmp.right_only]
    out += [f"differs: {n}" for n in cmp.diff_files]
    for name in cmp.subdirs:
        out += [f"{name}/{d}" for d in _differences(a / name, b / name)]
    # dircmp compares shallowly (size + mtime); confirm content for the rest.
    for name in cmp.same_files:
        if (a / name).read_bytes() != (b / name).read_bytes():
            out.append(f"differs: {name}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed stubs are stale")
    args = parser.parse_args(argv)
    if not args.check:
        generate(OUT_PACKAGE)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "simmesh_proto"
        generate(fresh)
        diff = _differences(OUT_PACKAGE, fresh)
    if diff:
        print("generated stubs are stale; run `make proto`:\n  " + "\n  ".join(diff), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
