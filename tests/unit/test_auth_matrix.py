"""The authorisation matrix, generated from the service descriptors: every RPC of every public
service (and of the internal shard API) has a rule, and on the real servers, with API keys kept in
etcd, a call with no key or a revoked key is UNAUTHENTICATED, a key of a smaller role than the rule
asks is PERMISSION_DENIED, and a key of the rule's role gets past authorisation (the empty request
may then fail for other reasons)."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import pkgutil
from collections.abc import AsyncIterator, Iterator

import grpc
import pytest
from google.longrunning import operations_proto_pb2
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from support.auth_apps import APPS, INTERNAL_TOKEN, auth_settings
from support.empty_calls import call_empty

import simmesh_proto.internal.v1
import simmesh_proto.v1
from simmesh.kit.auth.etcd_store import EtcdKeyStore
from simmesh.kit.auth.identity import Role
from simmesh.kit.auth.keys import new_key
from simmesh.kit.auth.rules import INTERNAL, Need, rule_for

REFUSED = {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED}


def _services() -> dict[str, ServiceDescriptor]:
    """Every service the simmesh_proto descriptors declare, and google.longrunning.Operations."""
    found = {"google.longrunning.Operations": operations_proto_pb2.DESCRIPTOR.services_by_name["Operations"]}
    for package in (simmesh_proto.v1, simmesh_proto.internal.v1):
        for module in pkgutil.iter_modules(package.__path__):
            if module.name.endswith("_pb2"):
                file = importlib.import_module(f"{package.__name__}.{module.name}").DESCRIPTOR
                found.update({s.full_name: s for s in file.services_by_name.values()})
    return found


SERVICES = _services()


def _path(method: MethodDescriptor) -> str:
    return f"/{method.containing_service.full_name}/{method.name}"


def test_every_rpc_of_every_service_has_an_authorisation_rule():
    missing = [_path(m) for s in SERVICES.values() for m in s.methods if rule_for(_path(m)) is None]
    assert missing == []


def test_every_service_is_served_by_an_app_of_the_matrix():
    served = set().union(*(names for _, _, names in APPS.values()))
    assert set(SERVICES) <= served


@dataclasses.dataclass(frozen=True)
class Keys:
    """Keys of tenant acme, one per role, and a revoked admin key."""

    by_role: dict[Role, str]
    revoked: str

    def sufficient(self, need: Need) -> str:
        return INTERNAL_TOKEN if need == INTERNAL else self.by_role[need]

    def too_small(self, need: Need) -> str | None:
        """A key one role short of `need` (an admin key for the shard API); None for reader rules."""
        if need == INTERNAL:
            return self.by_role[Role.ADMIN]
        return self.by_role[Role(need - 1)] if need > Role.READER else None


@pytest.fixture
def keys(etcd_client, etcd_prefix) -> Iterator[Keys]:
    store = EtcdKeyStore(etcd_client, etcd_prefix)
    by_role = {}
    for role in Role:
        by_role[role], record = new_key("acme", role)
        store.put(record)
    revoked, record = new_key("acme", Role.ADMIN)
    store.put(record.revoke())
    store.close()
    yield Keys(by_role, revoked)


@pytest.fixture(params=sorted(APPS))
async def app(request, tmp_path, etcd_server, etcd_prefix, keys) -> AsyncIterator:
    build, _, _ = APPS[request.param]
    started = await build(auth_settings(request.param, tmp_path, etcd_server.endpoint, etcd_prefix))
    await started.start()
    try:
        yield request.param, started
    finally:
        await started.stop(grace=0)


async def _code(channel: grpc.aio.Channel, method: MethodDescriptor, key: str | None) -> grpc.StatusCode:
    metadata = [("authorization", f"Bearer {key}")] if key is not None else None
    try:
        await call_empty(channel, method, metadata)
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def _row(channel: grpc.aio.Channel, method: MethodDescriptor, keys: Keys) -> list[str]:
    """What is wrong with one method's row of the matrix (nothing: an empty list)."""
    need = rule_for(_path(method))
    assert need is not None, f"{_path(method)} has no rule"
    wrong = []
    for case, key, expected in (
        ("no key", None, {grpc.StatusCode.UNAUTHENTICATED}),
        ("revoked key", keys.revoked, {grpc.StatusCode.UNAUTHENTICATED}),
        ("smaller role", keys.too_small(need), {grpc.StatusCode.PERMISSION_DENIED}),
    ):
        if case == "smaller role" and key is None:
            continue
        code = await _code(channel, method, key)
        if code not in expected:
            wrong.append(f"{_path(method)} with {case}: {code.name}")
    code = await _code(channel, method, keys.sufficient(need))
    if code in REFUSED:
        wrong.append(f"{_path(method)} with a {getattr(need, 'label', need)} key: {code.name}")
    return wrong


async def test_every_rpc_refuses_missing_revoked_and_too_small_keys_and_admits_its_role(app, keys):
    kind, started = app
    assert set(started.service_names) == APPS[kind][2]
    methods = [m for name in started.service_names for m in SERVICES[name].methods]
    async with grpc.aio.insecure_channel(started.address) as channel:
        rows = await asyncio.gather(*(_row(channel, m, keys) for m in methods))
    assert [problem for row in rows for problem in row] == []
