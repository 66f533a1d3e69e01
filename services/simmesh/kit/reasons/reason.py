"""`Reason`: a declared error reason, a `str` with its gRPC codes and whether a retry can help."""

from __future__ import annotations

from grpc import StatusCode


class Reason(str):
    """A declared reason: its name (the string clients see), its gRPC code(s), whether a retry can help."""

    codes: tuple[StatusCode, ...]
    retriable: bool
    example: str

    def __new__(
        cls, name: str, codes: StatusCode | tuple[StatusCode, ...], example: str = "", *, retriable: bool = False
    ) -> Reason:
        reason = super().__new__(cls, name)
        reason.codes = codes if isinstance(codes, tuple) else (codes,)
        reason.retriable = retriable
        reason.example = example
        return reason

    @property
    def code(self) -> StatusCode:
        """The reason's canonical code (the first declared)."""
        return self.codes[0]
