"""The gateway's route table against the contracts: every public RPC has an http rule and a route,
templates match as google.api.http says, query parameters become typed fields, and the OpenAPI
document lists every route."""

from __future__ import annotations

import pytest
from google.longrunning import operations_proto_pb2
from google.protobuf import json_format

from simmesh.gateway.openapi import openapi_document
from simmesh.gateway.routes import NOT_ROUTED, Fanout, Match, Router, http_rules, public_methods, route_table
from simmesh.gateway.templates import PathTemplate
from simmesh.gateway.transcode import query_dict, unary_request
from simmesh.kit.errors import InvalidArgument
from simmesh_proto.v1 import indexer_pb2, labeler_pb2

ROUTES = route_table()
ROUTER = Router(ROUTES)


def _rpc(method) -> str:
    return f"/{method.containing_service.full_name}/{method.name}"


def test_every_public_rpc_has_an_http_rule_and_a_route() -> None:
    methods = list(public_methods())
    assert len({m.containing_service.full_name for m in methods}) == 7  # six simmesh.v1 services and Operations
    without_rule = [_rpc(m) for m in methods if not http_rules(m)]
    assert without_rule == [], f"public RPCs without a google.api.http rule: {without_rule}"
    routed = {route.rpc_path for route in ROUTES}
    assert [_rpc(m) for m in methods if _rpc(m) not in routed] == []
    assert {"/google.longrunning.Operations/WaitOperation"} == NOT_ROUTED


def test_each_additional_binding_is_a_route_of_its_own() -> None:
    bindings = sum(len(http_rules(m)) for m in public_methods())
    backups = [r for r in ROUTES if r.method.containing_service.name == "DatabaseBackupService"]
    assert len(ROUTES) == bindings + len(backups) // 2  # backups are mounted once per backend: two routes a rule
    assert {r.template.text for r in backups} >= {"/v1/catalog/databaseBackups", "/v1/labeler/databaseBackups"}


def test_no_two_routes_share_a_verb_and_template() -> None:
    keys = [(r.verb, r.template.text) for r in ROUTES]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize(
    ("verb", "path", "rpc", "bound"),
    [
        ("GET", "/v1/collections", "IndexerService/ListCollections", {}),
        ("GET", "/v1/collections/c1", "IndexerService/GetCollection", {"name": "collections/c1"}),
        ("POST", "/v1/collections/c1:search", "IndexerService/Search", {"collection": "collections/c1"}),
        (
            "GET",
            "/v1/collections/c1/records:batchGet",
            "IndexerService/BatchGetRecords",
            {"collection": "collections/c1"},
        ),
        (
            "PATCH",
            "/v1/collections/c1/records/r9",
            "IndexerService/UpdateRecord",
            {"record.name": "collections/c1/records/r9"},
        ),
        ("POST", "/v1/models/m/versions/3:embed", "EmbedderService/Embed", {"model": "models/m/versions/3"}),
        ("POST", "/v1/models/m:embed", "EmbedderService/Embed", {"model": "models/m"}),
        ("GET", "/v1/operations/acme.x/y", "Operations/GetOperation", {"name": "operations/acme.x/y"}),
        ("POST", "/v1/operations/abc:cancel", "Operations/CancelOperation", {"name": "operations/abc"}),
        ("GET", "/v1/operations", "Operations/ListOperations", {"name": "operations"}),
        ("GET", "/v1/projects/p/labels:export", "LabelerService/ExportLabels", {"project": "projects/p"}),
        ("POST", "/v1/labeler/databaseBackups", "DatabaseBackupService/BackupDatabase", {}),
    ],
)
def test_a_path_matches_its_template_and_binds_its_fields(verb: str, path: str, rpc: str, bound: dict) -> None:
    found = ROUTER.match(verb, path)
    assert isinstance(found, Match)
    assert found.route.rpc_path.endswith("." + rpc) or found.route.rpc_path == "/google.longrunning." + rpc
    assert found.bound == bound


def test_a_known_path_with_another_verb_lists_the_allowed_ones_and_an_unknown_path_none() -> None:
    assert ROUTER.match("GET", "/v1/collections/c1:search") == ["POST"]
    assert ROUTER.match("PUT", "/v1/collections/c1") == ["DELETE", "GET", "PATCH"]
    assert ROUTER.match("GET", "/v1/collections/c1/unknown") == []
    assert ROUTER.match("GET", "/v2/collections") == []


def test_templates_take_one_segment_for_a_star_and_several_for_two() -> None:
    one = PathTemplate.parse("/v1/{name=tasks/*/versions/*}")
    assert one.match("/v1/tasks/t/versions/2") == {"name": "tasks/t/versions/2"}
    assert one.match("/v1/tasks/t/versions/2/more") is None
    assert PathTemplate.parse("/v1/{name}").match("/v1/a") == {"name": "a"}
    assert PathTemplate.parse("/v1/{name=operations/**}").match("/v1/operations/a/b/c") == {"name": "operations/a/b/c"}
    verb = PathTemplate.parse("/v1/{name=operations/**}:cancel")
    assert verb.match("/v1/operations/a/b:cancel") == {"name": "operations/a/b"}
    assert verb.match("/v1/operations/a/b") is None


def test_operations_are_looked_up_on_each_backend_and_backups_mounted_per_backend() -> None:
    ops = {r.method.name: r for r in ROUTES if r.method.containing_service.name == "Operations"}
    assert ops["GetOperation"].backends == ("indexer", "catalog") and ops["GetOperation"].fanout is Fanout.FIRST_FOUND
    assert ops["ListOperations"].fanout is Fanout.MERGED_LIST
    keys = [r for r in ROUTES if r.method.containing_service.name == "KeyService"]
    assert {r.backends for r in keys} == {("catalog",)}


def test_query_parameters_become_typed_fields_repeated_nested_and_enums_by_name() -> None:
    request = unary_request(
        indexer_pb2.BatchGetRecordsRequest.DESCRIPTOR,
        "",
        {"collection": "collections/c"},
        None,
        [("ids", "a"), ("ids", "b"), ("includeVectors", "true"), ("view", "RECORD_VIEW_THUMBNAIL")],
    )
    assert request == indexer_pb2.BatchGetRecordsRequest(
        collection="collections/c", ids=["a", "b"], include_vectors=True, view=indexer_pb2.RECORD_VIEW_THUMBNAIL
    )
    listed = unary_request(
        indexer_pb2.ListRecordsRequest.DESCRIPTOR, "", {}, None, [("page_size", "5"), ("filter", '{"shade": "red"}')]
    )
    assert listed.page_size == 5 and json_format.MessageToDict(listed.filter) == {"shade": "red"}
    by_number = unary_request(indexer_pb2.BatchGetRecordsRequest.DESCRIPTOR, "", {}, None, [("view", "2")])
    assert by_number.view == 2
    nested = query_dict(operations_proto_pb2.ListOperationsRequest.DESCRIPTOR, [("pageSize", "2"), ("filter", "done")])
    assert nested == {"pageSize": 2, "filter": "done"}


def test_a_path_field_wins_over_the_body_and_a_body_field_route_reads_the_rest_from_the_query() -> None:
    request = unary_request(
        labeler_pb2.UpdateImageRequest.DESCRIPTOR,
        "image",
        {"image.name": "projects/p/images/i"},
        {"name": "projects/other/images/x", "labels": ["cat"]},
        [("updateMask", "labels")],
    )
    assert request.image.name == "projects/p/images/i" and list(request.image.labels) == ["cat"]
    assert list(request.update_mask.paths) == ["labels"]


@pytest.mark.parametrize(
    ("params", "said"),
    [
        ([("bogus", "1")], "query parameter `bogus` is not a field of simmesh.v1.ListRecordsRequest"),
        ([("pageSize", "ten")], "query parameter `pageSize` must be an integer, got 'ten'"),
        ([("includeVectors", "maybe")], "query parameter `includeVectors` must be true or false"),
        ([("filter", "{oops")], "query parameter `filter` is not valid JSON"),
    ],
)
def test_a_bad_query_parameter_is_refused_by_name(params: list[tuple[str, str]], said: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        unary_request(indexer_pb2.ListRecordsRequest.DESCRIPTOR, "", {}, None, params)
    assert said in refused.value.message


def test_the_openapi_document_lists_every_route_with_its_parameters_and_schemas() -> None:
    document = openapi_document(ROUTES)
    assert document["openapi"] == "3.1.0"
    operations = [(verb.upper(), path) for path, item in document["paths"].items() for verb in item]
    assert sorted(operations) == sorted((r.verb, r.template.openapi_path()[0]) for r in ROUTES)
    search = document["paths"]["/v1/collections/{collection}:search"]["post"]
    assert search["parameters"][0] == {
        "name": "collection",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": "in `collection` (`collections/*`)",
    }
    assert search["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/simmesh.v1.SearchRequest"
    }
    schemas = document["components"]["schemas"]
    assert schemas["simmesh.v1.Metric"]["enum"][:2] == ["METRIC_UNSPECIFIED", "METRIC_COSINE"]
    assert schemas["simmesh.v1.ListCollectionsResponse"]["properties"]["nextPageToken"] == {"type": "string"}
    assert "google.rpc.Status" in schemas and document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    export = document["paths"]["/v1/projects/{project}/labels:export"]["get"]
    assert "application/x-ndjson" in export["responses"]["200"]["content"]
    refs = {ref for ref in _refs(document)}
    assert all(ref.removeprefix("#/components/schemas/") in schemas for ref in refs)


def _refs(value):
    if isinstance(value, dict):
        if "$ref" in value:
            yield value["$ref"]
        for item in value.values():
            yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)
