"""`with` support for the SDK's objects that hold something to close (channels, progress bars)."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Closing:
    """`with thing:` calls `thing.close()` on the way out; a subclass defines `close()`."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
