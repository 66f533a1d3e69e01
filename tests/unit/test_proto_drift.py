"""The committed stubs (`simmesh_proto`) are what `make proto` generates from `protos/`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_stubs_match_the_protos():
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "genproto.py"), "--check"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


def test_stubs_import_under_their_own_prefix():
    from simmesh_proto.internal.v1 import shard_pb2
    from simmesh_proto.v1 import indexer_pb2

    assert indexer_pb2.Collection.__module__ == "simmesh_proto.v1.indexer_pb2"
    assert shard_pb2.DESCRIPTOR.package == "simmesh.internal.v1"
    assert indexer_pb2.DESCRIPTOR.package == "simmesh.v1"
