"""Writes docs/reasons.md, the table of every error reason, from `simmesh.kit.reasons`.

python tools/reasons_doc.py            # rewrite the document
python tools/reasons_doc.py --check    # exit 1 when it is out of date
"""

from __future__ import annotations

import pathlib
import sys

from grpc import StatusCode

from simmesh.kit import reasons

RETRIABLE = (StatusCode.UNAVAILABLE, StatusCode.ABORTED, StatusCode.DEADLINE_EXCEEDED)
DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "reasons.md"

HEADER = """# Error reasons

Every error a simmesh service returns carries a `google.rpc.ErrorInfo` detail with `domain`
"simmesh" and one of the reasons below; a field at fault is named in a `google.rpc.BadRequest`
detail. Match on the reason, not on the message. "Retry" says whether the same call, sent again
later, can succeed (the detail's metadata then also holds `retriable: "true"`). Generated from
`services/simmesh/kit/reasons/` by `tools/reasons_doc.py`; do not edit by hand.

| reason | gRPC code | retry | example message |
|---|---|---|---|
"""


def render() -> str:
    rows = []
    for name, reason in sorted(reasons.declared().items()):
        codes = " or ".join(code.name for code in reason.codes)
        example = reason.example.replace("|", "\\|")
        retry = "yes" if reason.retriable else "no"
        if len(reason.codes) > 1:
            retry = " / ".join("yes" if code in RETRIABLE else "no" for code in reason.codes)
        rows.append(f"| `{name}` | {codes} | {retry} | {example} |")
    return HEADER + "\n".join(rows) + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv[1:]:
        if not DOC.exists() or DOC.read_text() != text:
            print(f"{DOC} is out of date: run python tools/reasons_doc.py")
            return 1
        return 0
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
