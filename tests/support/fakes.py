"""Fake servicers for tests: the RPCs a fake does not define answer UNIMPLEMENTED."""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import ServiceDescriptor

from simmesh.kit import errors


async def _refuse(self: Any, request: Any, context: Any) -> Any:
    raise errors.Unimplemented("not part of this fake")


def refuse_the_rest(servicer_class: type, service: ServiceDescriptor) -> type:
    """`servicer_class` with every RPC of `service` it does not define answering UNIMPLEMENTED."""
    for method in service.methods:
        if method.name not in vars(servicer_class):
            setattr(servicer_class, method.name, _refuse)
    return servicer_class
