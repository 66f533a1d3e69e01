"""Python SDK for simmesh: a typed client for the four services and the `simctl` command line.

Besides the reasons servers send, the SDK raises its own (`SimmeshError.reason`, or an item's):
`OPERATION_TIMEOUT` (DEADLINE_EXCEEDED) when `wait_operation`, or a method called with `wait=True`,
outlasts its `timeout` (the operation keeps running on the server); and, for records refused before
they are sent, `INVALID_RECORD`, `INVALID_VECTOR`, `FILE_UNREADABLE` and `DUPLICATE_ID`
(`simmesh_client.records`).
"""

from simmesh_client.base import ServiceClient, as_image, as_struct, paginate, resource_name
from simmesh_client.catalog import CatalogClient
from simmesh_client.client import Client, ServiceHealth, ServingStatus
from simmesh_client.config import SERVICES, ClientConfig, Service
from simmesh_client.embedder import Comparison, EmbedderClient
from simmesh_client.errors import FieldViolation, ItemFailure, PartialFailure, SimmeshError, translate_errors
from simmesh_client.indexer import IndexerClient
from simmesh_client.labeler import LabelerClient
from simmesh_client.models import as_manifest, load_manifest
from simmesh_client.operations import OPERATION_TIMEOUT, ProgressBar, wait_operation
from simmesh_client.records import InsertBatch, InsertFailure, InsertSummary, RecordError, record_input
from simmesh_client.tls import TlsOptions
from simmesh_client.vectors import from_vector, from_vector_batch, to_vector, to_vector_batch

__version__ = "0.1.0"

__all__ = [
    "OPERATION_TIMEOUT",
    "SERVICES",
    "CatalogClient",
    "Client",
    "ClientConfig",
    "Comparison",
    "EmbedderClient",
    "FieldViolation",
    "IndexerClient",
    "InsertBatch",
    "InsertFailure",
    "InsertSummary",
    "ItemFailure",
    "LabelerClient",
    "PartialFailure",
    "ProgressBar",
    "RecordError",
    "Service",
    "ServiceClient",
    "ServiceHealth",
    "ServingStatus",
    "SimmeshError",
    "TlsOptions",
    "as_image",
    "as_manifest",
    "as_struct",
    "from_vector",
    "from_vector_batch",
    "load_manifest",
    "paginate",
    "record_input",
    "resource_name",
    "to_vector",
    "to_vector_batch",
    "translate_errors",
    "wait_operation",
]
