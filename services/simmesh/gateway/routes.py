"""The route table: every public RPC's `google.api.http` bindings and the backends that serve them."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from google.api import annotations_pb2, http_pb2
from google.longrunning import operations_proto_pb2
from google.protobuf.descriptor import FileDescriptor, MethodDescriptor, ServiceDescriptor

from simmesh.gateway.templates import PathTemplate
from simmesh_proto.v1 import auth_pb2, backup_pb2, catalog_pb2, embedder_pb2, indexer_pb2, labeler_pb2

OPERATIONS = "google.longrunning.Operations"
BACKUPS = "simmesh.v1.DatabaseBackupService"

# The public contracts, by the file that declares them.
PUBLIC_FILES: tuple[FileDescriptor, ...] = (
    auth_pb2.DESCRIPTOR,
    backup_pb2.DESCRIPTOR,
    catalog_pb2.DESCRIPTOR,
    embedder_pb2.DESCRIPTOR,
    indexer_pb2.DESCRIPTOR,
    labeler_pb2.DESCRIPTOR,
    operations_proto_pb2.DESCRIPTOR,
)

# Which backend(s) serve each public service. A service on several backends is either fanned out
# (Operations: a name is looked up on each, lists are merged) or mounted once per backend under
# `/v1/{backend}/...` (DatabaseBackupService: each backend backs up its own database).
HOSTS: dict[str, tuple[str, ...]] = {
    "simmesh.v1.EmbedderService": ("embedder",),
    "simmesh.v1.IndexerService": ("indexer",),
    "simmesh.v1.CatalogService": ("catalog",),
    "simmesh.v1.LabelerService": ("labeler",),
    "simmesh.v1.KeyService": ("catalog",),
    BACKUPS: ("catalog", "labeler"),
    OPERATIONS: ("indexer", "catalog"),
}
PER_BACKEND = frozenset({BACKUPS})

# RPCs of the public services that HTTP does not carry: WaitOperation blocks for as long as an
# operation runs; HTTP clients poll GetOperation (googleapis gives it no rule either).
NOT_ROUTED = frozenset({f"/{OPERATIONS}/WaitOperation"})


class Fanout(enum.Enum):
    ONE = "one"  # the route's single backend
    FIRST_FOUND = "first_found"  # each backend in turn until one does not answer NOT_FOUND
    MERGED_LIST = "merged_list"  # a list paged through each backend in turn


@dataclass(frozen=True)
class Route:
    """One HTTP binding of one RPC."""

    verb: str  # GET, POST, PATCH, DELETE, PUT
    template: PathTemplate
    body: str  # "" (none), "*" (the whole request) or a top-level field
    method: MethodDescriptor
    backends: tuple[str, ...]
    fanout: Fanout = Fanout.ONE

    @property
    def rpc_path(self) -> str:
        """The gRPC method path, `/simmesh.v1.IndexerService/Search`."""
        return f"/{self.method.containing_service.full_name}/{self.method.name}"

    @property
    def client_streaming(self) -> bool:
        return bool(self.method.client_streaming)

    @property
    def server_streaming(self) -> bool:
        return bool(self.method.server_streaming)


def public_services() -> Iterator[ServiceDescriptor]:
    for file in PUBLIC_FILES:
        yield from file.services_by_name.values()


def public_methods() -> Iterator[MethodDescriptor]:
    """Every RPC HTTP must reach."""
    for service in public_services():
        for method in service.methods:
            if f"/{service.full_name}/{method.name}" not in NOT_ROUTED:
                yield method


def http_rules(method: MethodDescriptor) -> list[http_pb2.HttpRule]:
    """The method's rule and its additional bindings; [] when it has none."""
    rule = method.GetOptions().Extensions[annotations_pb2.http]
    if rule.WhichOneof("pattern") is None:
        return []
    return [rule, *rule.additional_bindings]


def _verb_and_path(rule: http_pb2.HttpRule) -> tuple[str, str]:
    kind = rule.WhichOneof("pattern")
    if kind == "custom":
        return rule.custom.kind.upper(), rule.custom.path
    return str(kind).upper(), getattr(rule, str(kind))


def _routes_of(method: MethodDescriptor) -> Iterator[Route]:
    service = method.containing_service.full_name
    backends = HOSTS[service]
    for rule in http_rules(method):
        verb, path = _verb_and_path(rule)
        if service in PER_BACKEND:
            for backend in backends:
                prefixed = path.replace("/v1/", f"/v1/{backend}/", 1)
                yield Route(verb, PathTemplate.parse(prefixed), rule.body, method, (backend,))
        elif len(backends) > 1:
            fanout = Fanout.MERGED_LIST if method.name.startswith("List") else Fanout.FIRST_FOUND
            yield Route(verb, PathTemplate.parse(path), rule.body, method, backends, fanout)
        else:
            yield Route(verb, PathTemplate.parse(path), rule.body, method, backends)


def route_table(methods: Iterable[MethodDescriptor] | None = None) -> list[Route]:
    """Every route of `methods` (default: every public RPC)."""
    return [route for method in (public_methods() if methods is None else methods) for route in _routes_of(method)]


@dataclass(frozen=True)
class Match:
    route: Route
    bound: dict[str, str]  # field path -> value taken from the URL path


class Router:
    """Finds the route of a request: `match` answers the route, or the verbs the path allows."""

    def __init__(self, routes: list[Route]) -> None:
        self.routes = routes
        self._by_verb: dict[str, list[Route]] = {}
        for route in routes:
            self._by_verb.setdefault(route.verb, []).append(route)

    def match(self, verb: str, path: str) -> Match | list[str]:
        """The matching route, or the verbs allowed on `path` ([] when no route has it)."""
        for route in self._by_verb.get(verb, ()):
            bound = route.template.match(path)
            if bound is not None:
                return Match(route, bound)
        return sorted({route.verb for route in self.routes if route.template.match(path) is not None})
