"""simctl: the simmesh command line.

    simctl status                            # is every service serving?
    simctl --host mesh.internal status --json
    simctl models import model.onnx --id mobilenet --manifest manifest.json --default
    simctl collections create products --model models/mobilenet --product-field sku
    simctl insert records.jsonl --collection products
    simctl search --collection products --id sku-1 -k 5 --filter '{"color": "red"}'
    simctl compare --model models/match a.jpg b.jpg c.jpg
    simctl train-index --collection products --kind ivf_flat --wait

Connection and output options (`--host`, `--embedder`/`--indexer`/`--catalog`/`--labeler`,
`--token`, `--timeout`, `--tls`/`--tls-ca`/`--tls-cert`/`--tls-key`/`--tls-server-name`, `--json`) go
before or after the verb; unset ones come from the `SIMMESH_*` environment.

A verb is a module listed in `VERB_MODULES` with a function

    def register(verbs: simmesh_client.verbs.declare.Verbs) -> None

that adds its parser with `verbs.add(name, run, help=...)` (or a verb with actions with
`verbs.group`), where `run(context: Context) -> int` returns the exit code. `status` below is
built the same way.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from simmesh_client.client import Client
from simmesh_client.closing import Closing
from simmesh_client.config import ADDRESS_ENV, DEFAULT_PORTS, HOST_ENV, SERVICES, TIMEOUT_ENV, TOKEN_ENV, ClientConfig
from simmesh_client.errors import SimmeshError
from simmesh_client.tls import CA_FILE_ENV, CERT_FILE_ENV, KEY_FILE_ENV, SERVER_NAME_ENV, TLS_ENV, TlsOptions
from simmesh_client.verbs.declare import Verbs

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

# Modules that add verbs, each exposing `register(verbs)`.
VERB_MODULES: tuple[str, ...] = (
    "simmesh_client.verbs.models",
    "simmesh_client.verbs.collections",
    "simmesh_client.verbs.insert",
    "simmesh_client.verbs.search",
    "simmesh_client.verbs.compare",
    "simmesh_client.verbs.train_index",
    "simmesh_client.verbs.records",
    "simmesh_client.verbs.similarity_types",
    "simmesh_client.verbs.tasks",
    "simmesh_client.verbs.groups",
    "simmesh_client.verbs.images",
    "simmesh_client.verbs.train",
    "simmesh_client.verbs.versions",
    "simmesh_client.verbs.deploy",
    "simmesh_client.verbs.label",
    "simmesh_client.verbs.backup",
    "simmesh_client.verbs.keys",
)


class CommandError(Exception):
    """A verb's failure that is the user's to fix (bad file, bad flag value): printed, exit 1."""


@dataclass
class Context(Closing):
    """What a verb gets: its parsed arguments, the settings, a client and the output streams."""

    args: argparse.Namespace
    config: ClientConfig
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    _client: Client | None = None

    @property
    def json(self) -> bool:
        return bool(getattr(self.args, "json", False))

    @property
    def client(self) -> Client:
        """A client on `config`, created on first use and closed when the verb returns."""
        if self._client is None:
            self._client = Client(self.config)
        return self._client

    def print_json(self, value: Any) -> None:
        json.dump(value, self.stdout, indent=2)
        self.stdout.write("\n")

    def print_table(self, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
        cells = [list(headers)] + [["" if cell is None else str(cell) for cell in row] for row in rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
        for row in cells:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() + "\n")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


Handler = Callable[[Context], int]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as error:
        parser.error(str(error))
    handler: Handler = args.handler
    with Context(args, config) as context:
        try:
            return handler(context)
        except (SimmeshError, CommandError) as error:
            print(f"simctl: {error}", file=context.stderr)
            return EXIT_FAILURE
        except OSError as error:
            print(f"simctl: {_os_error(error)}", file=context.stderr)
            return EXIT_FAILURE
        except KeyboardInterrupt:
            return EXIT_INTERRUPTED


def build_parser() -> argparse.ArgumentParser:
    common = common_options()
    parser = argparse.ArgumentParser(
        prog="simctl", description="Command line for simmesh, the image-similarity mesh.", parents=[common]
    )
    verbs = Verbs(parser.add_subparsers(dest="verb", required=True, metavar="VERB"), [common])
    register_status(verbs)
    for module_name in VERB_MODULES:
        importlib.import_module(module_name).register(verbs)
    return parser


def common_options() -> argparse.ArgumentParser:
    """Options every verb accepts. Unset ones stay off the namespace, so either position works."""
    parser = argparse.ArgumentParser(add_help=False)
    connection = parser.add_argument_group("connection")
    connection.add_argument(
        "--host", default=argparse.SUPPRESS, help=f"host of every service on its default port (env {HOST_ENV})"
    )
    for service in SERVICES:
        connection.add_argument(
            f"--{service}",
            metavar="HOST:PORT",
            default=argparse.SUPPRESS,
            help=f"{service} address (env {ADDRESS_ENV[service]}; default localhost:{DEFAULT_PORTS[service]})",
        )
    connection.add_argument("--token", default=argparse.SUPPRESS, help=f"bearer token (env {TOKEN_ENV})")
    connection.add_argument(
        "--timeout",
        type=_positive_seconds,
        metavar="SECONDS",
        default=argparse.SUPPRESS,
        help=f"deadline of each call (env {TIMEOUT_ENV}; default 30)",
    )
    tls = parser.add_argument_group("TLS (verifies every service's certificate)")
    tls.add_argument(
        "--tls", action="store_true", default=argparse.SUPPRESS, help=f"TLS with the system's roots (env {TLS_ENV}=1)"
    )
    for flag, metavar, env, what in (
        ("--tls-ca", "FILE", CA_FILE_ENV, "PEM CA bundle the services' certificates chain to; implies --tls"),
        ("--tls-cert", "FILE", CERT_FILE_ENV, "PEM client certificate, for mutual TLS"),
        ("--tls-key", "FILE", KEY_FILE_ENV, "PEM private key of --tls-cert"),
        ("--tls-server-name", "NAME", SERVER_NAME_ENV, "name checked in the certificates instead of the host"),
    ):
        tls.add_argument(flag, metavar=metavar, default=argparse.SUPPRESS, help=f"{what} (env {env})")
    output = parser.add_argument_group("output")
    output.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
    return parser


def config_from_args(args: argparse.Namespace) -> ClientConfig:
    return ClientConfig.from_env(
        host=getattr(args, "host", None),
        embedder=getattr(args, "embedder", None),
        indexer=getattr(args, "indexer", None),
        catalog=getattr(args, "catalog", None),
        labeler=getattr(args, "labeler", None),
        token=getattr(args, "token", None),
        timeout=getattr(args, "timeout", None),
        tls=tls_from_args(args),
    )


def tls_from_args(args: argparse.Namespace) -> TlsOptions | None:
    """TLS options from the flags over `SIMMESH_TLS_*`; None: the environment decides."""
    flags = {"ca_file": "tls_ca", "cert_file": "tls_cert", "key_file": "tls_key", "server_name": "tls_server_name"}
    given = {field: getattr(args, name) for field, name in flags.items() if hasattr(args, name)}
    if not given and not hasattr(args, "tls"):
        return None
    from_env = TlsOptions.from_env(os.environ) or TlsOptions()
    return dataclasses.replace(from_env, **given)


def register_status(verbs: Verbs) -> None:
    verbs.add(
        "status",
        run_status,
        help="check that every service is serving",
        description="Ask each service's standard health service whether it is serving. Exits 0 only when all four are.",
    )


def run_status(context: Context) -> int:
    timeout = getattr(context.args, "timeout", None)
    report = list(context.client.health(timeout=timeout).values())
    all_serving = all(health.serving for health in report)
    if context.json:
        context.print_json(
            {
                "serving": all_serving,
                "services": [
                    {
                        "service": health.service,
                        "address": health.address,
                        "status": health.status.value,
                        "latency_ms": None if health.latency_ms is None else round(health.latency_ms, 3),
                        "error": health.error,
                    }
                    for health in report
                ],
            }
        )
    else:
        context.print_table(
            ("SERVICE", "ADDRESS", "STATUS", "LATENCY MS", "DETAIL"),
            [
                (
                    health.service,
                    health.address,
                    health.status.value,
                    "-" if health.latency_ms is None else f"{health.latency_ms:.1f}",
                    health.error,
                )
                for health in report
            ],
        )
    return EXIT_OK if all_serving else EXIT_FAILURE


def _os_error(error: OSError) -> str:
    if error.filename is not None and error.strerror:
        return f"{error.filename}: {error.strerror}"
    return str(error)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


if __name__ == "__main__":
    # The verbs import `simmesh_client.cli`; run that module rather than this `__main__` copy.
    from simmesh_client.cli import main as package_main

    sys.exit(package_main())
