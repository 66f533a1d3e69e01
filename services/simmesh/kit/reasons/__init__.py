"""The reason catalogue: every `ErrorInfo.reason` simmesh raises, declared once.

Each reason names its canonical gRPC code (a few have a second, listed after the first) and
whether a retry of the same call can help. Raise sites use these names, never literals:

    raise NotFound(f"collection `collections/{cid}` does not exist", reason=reasons.COLLECTION_NOT_FOUND)

A `Reason` is a `str`, so `error.reason == "COLLECTION_NOT_FOUND"` holds where clients compare
strings. One module per service declares its reasons;
`docs/reasons.md` lists them for client authors (`tools/reasons_doc.py` writes it).
"""

from simmesh.kit.reasons.catalog import *  # noqa: F403
from simmesh.kit.reasons.common import *  # noqa: F403
from simmesh.kit.reasons.embedder import *  # noqa: F403
from simmesh.kit.reasons.gateway import *  # noqa: F403
from simmesh.kit.reasons.indexer import *  # noqa: F403
from simmesh.kit.reasons.labeler import *  # noqa: F403
from simmesh.kit.reasons.reason import Reason


def declared() -> dict[str, Reason]:
    """Every declared reason by name."""
    return {name: value for name, value in globals().items() if isinstance(value, Reason)}
