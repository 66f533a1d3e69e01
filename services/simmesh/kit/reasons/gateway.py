"""Reasons the REST/JSON gateway answers itself, before a request reaches the mesh."""

from grpc import StatusCode

from simmesh.kit.reasons.reason import Reason

BODY_TOO_LARGE = Reason(
    "BODY_TOO_LARGE", StatusCode.RESOURCE_EXHAUSTED, "the request body passed the limit of … bytes (HTTP 413)"
)
INVALID_FIELD_VALUE = Reason(
    "INVALID_FIELD_VALUE", StatusCode.INVALID_ARGUMENT, "body: invalid value for `k`: invalid literal for int() …"
)
MALFORMED_JSON = Reason(
    "MALFORMED_JSON", StatusCode.INVALID_ARGUMENT, "body is not valid JSON: Expecting ',' delimiter: line 1 column …"
)
METHOD_NOT_ALLOWED = Reason(
    "METHOD_NOT_ALLOWED", StatusCode.UNIMPLEMENTED, "DELETE is not allowed on /v1/…; allowed: GET, PATCH (HTTP 405)"
)
ROUTE_NOT_FOUND = Reason("ROUTE_NOT_FOUND", StatusCode.NOT_FOUND, "no route for GET /v1/… (HTTP 404)")
UNKNOWN_FIELD = Reason("UNKNOWN_FIELD", StatusCode.INVALID_ARGUMENT, "body: unknown field `collection.foo` (…)")
