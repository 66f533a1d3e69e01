"""Walks over group-of-group edges: cycle detection and held-out (test) subtrees."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping

# parent id -> ids of its member groups
Edges = Mapping[str, Iterable[str]]


def cycle_path(edges: Edges, parent: str, member: str) -> list[str] | None:
    """The cycle that adding `member` to `parent` would close, as `[parent, member, ..., parent]`;
    None when the edge is safe. A group made a member of itself is `[parent, parent]`."""
    if member == parent:
        return [parent, parent]
    previous: dict[str, str] = {member: member}
    queue = deque([member])
    while queue:
        current = queue.popleft()
        for child in edges.get(current, ()):
            if child in previous:
                continue
            previous[child] = current
            if child == parent:
                path = [child]
                while path[-1] != member:
                    path.append(previous[path[-1]])
                return [parent, *reversed(path)]
            queue.append(child)
    return None


def held_out(marked: Iterable[str], edges: Edges) -> set[str]:
    """Groups marked test and every group below one of them."""
    result: set[str] = set()
    queue = deque(marked)
    while queue:
        current = queue.popleft()
        if current in result:
            continue
        result.add(current)
        queue.extend(edges.get(current, ()))
    return result
