"""`simctl insert`: stream a JSON Lines file of records into a collection.

    simctl insert records.jsonl --collection products
    simctl insert records.jsonl --collection products --batch-size 500 --upsert
    cat records.jsonl | simctl insert - --collection products --json

Each line is one record: `{"_id": "sku-1", "_url": "https://...", "color": "red"}` (`_url`,
`_base64`, `_file` or `_vector`; see `simmesh_client.records`). Lines that are not JSON objects are
reported with their line number and skipped; the upload goes on. The exit code is 1 when any
record failed.
"""

from __future__ import annotations

import json
import sys
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from tqdm import tqdm

from simmesh_client.cli import EXIT_FAILURE, EXIT_OK, Context
from simmesh_client.records import InsertBatch, InsertSummary
from simmesh_client.verbs.common import compact, positive_int
from simmesh_client.verbs.declare import Verbs, add_collection_option

INVALID_JSON = "INVALID_JSON"
DEFAULT_RETRIES = 5


def register(verbs: Verbs) -> None:
    parser = verbs.add(
        "insert",
        run,
        help="insert records from a JSON Lines file",
        description="Stream the records of a JSON Lines file (one JSON object per line) into a collection, "
        "in batches. Failed records and unreadable lines are summed up at the end; the exit code is 1 "
        "when any failed.",
    )
    parser.add_argument("file", metavar="FILE", help="JSON Lines file, or - for standard input")
    add_collection_option(parser)
    parser.add_argument(
        "--batch-size", type=positive_int, default=256, metavar="N", help="records per batch (default 256)"
    )
    parser.add_argument("--upsert", action="store_true", help="replace records whose `_id` exists")
    parser.add_argument(
        "--base-dir", metavar="DIR", help="where relative `_file` paths start (default: the file's directory)"
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=DEFAULT_RETRIES,
        metavar="N",
        help=f"send a record again at most N times when it failed for a retryable reason, such as a shard "
        f"that was away (default {DEFAULT_RETRIES}; 0: never)",
    )
    parser.add_argument(
        "--show-failures", type=int, default=10, metavar="N", help="failures to list after the summary (default 10)"
    )


@dataclass(frozen=True)
class LineFailure:
    line: int
    id: str
    reason: str
    message: str


class JsonLines:
    """The JSON objects of a JSON Lines stream, with the line number of each one yielded.

    Blank lines are skipped; lines that are not JSON objects are kept in `bad`.
    """

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        # Line number of the n-th record yielded.
        self.lines = array("q")
        self.bad: list[LineFailure] = []

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for number, text in enumerate(self._stream, start=1):
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as error:
                self.bad.append(LineFailure(number, "", INVALID_JSON, f"not valid JSON: {error}"))
                continue
            if not isinstance(value, dict):
                self.bad.append(LineFailure(number, "", INVALID_JSON, f"not a JSON object: {compact(value, 40)}"))
                continue
            self.lines.append(number)
            yield value

    def line_of(self, index: int) -> int:
        return self.lines[index]


def run(context: Context) -> int:
    args = context.args
    reading_stdin = args.file == "-"
    base_dir = args.base_dir or (None if reading_stdin else str(Path(args.file).resolve().parent))
    total = None if reading_stdin else _count_lines(args.file)
    stream = sys.stdin if reading_stdin else open(args.file, encoding="utf-8")  # noqa: SIM115 - closed below
    source = JsonLines(stream)
    try:
        with Progress(source, total, context.stderr) as progress:
            summary = context.client.indexer.insert(
                args.collection,
                source,
                batch_size=args.batch_size,
                upsert=args.upsert,
                on_batch=progress,
                base_dir=base_dir,
                retries=max(args.retries, 0),
            )
    finally:
        if not reading_stdin:
            stream.close()
    failures = sorted(
        [*source.bad, *(LineFailure(source.line_of(f.index), f.id, f.reason, f.message) for f in summary.failures)],
        key=lambda failure: failure.line,
    )
    _report(context, summary, failures, len(source.lines) + len(source.bad), args.show_failures)
    return EXIT_FAILURE if failures else EXIT_OK


class Progress:
    """A records/s bar on stderr (drawn only on a terminal), moved by each answered batch."""

    def __init__(self, source: JsonLines, total: int | None, file: IO[str]) -> None:
        self._source = source
        self._failed = 0
        self._bar = tqdm(
            total=total, desc="inserting", unit=" records", unit_scale=True, file=file, dynamic_ncols=True, disable=None
        )

    def __call__(self, batch: InsertBatch) -> None:
        last_line = self._source.line_of(batch.start + batch.count - 1)
        self._failed += len(batch.failures)
        failed = self._failed + len(self._source.bad)
        if failed:
            self._bar.set_postfix(failed=failed, refresh=False)
        self._bar.update(max(last_line - self._bar.n, 0))

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None and self._bar.total is not None:
            self._bar.update(max(self._bar.total - self._bar.n, 0))
        self._bar.close()


def _count_lines(path: str) -> int:
    """Lines in the file (a last line without a newline counts), for the progress bar's total."""
    count, last = 0, b"\n"
    with open(path, "rb") as file:
        while block := file.read(1 << 20):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")


def _report(context: Context, summary: InsertSummary, failures: list[LineFailure], records: int, shown: int) -> None:
    by_reason = dict(Counter(failure.reason for failure in failures).most_common())
    if context.json:
        context.print_json(
            {
                "records": records,
                "inserted": summary.inserted,
                "updated": summary.updated,
                "failed": len(failures),
                "retried": summary.retried,
                "by_reason": by_reason,
                "failures": [{"line": f.line, "id": f.id, "reason": f.reason, "message": f.message} for f in failures],
            }
        )
        return
    out = context.stdout
    out.write(f"inserted {summary.inserted}, updated {summary.updated}, failed {len(failures)} of {records} records\n")
    if summary.retried:
        out.write(f"retried {summary.retried} records\n")
    if not failures:
        return
    out.write("failures by reason:\n")
    width = max(len(reason) for reason in by_reason)
    for reason, count in by_reason.items():
        out.write(f"  {reason:<{width}}  {count}\n")
    listed = failures[: max(shown, 0)]
    if listed:
        out.write("first failures:\n" if len(listed) < len(failures) else "failures:\n")
        for failure in listed:
            label = f"line {failure.line}" + (f" ({failure.id})" if failure.id else "")
            out.write(f"  {label}: {failure.reason}: {failure.message}\n")
        if len(listed) < len(failures):
            out.write(f"  ... and {len(failures) - len(listed)} more (--json lists them all)\n")
