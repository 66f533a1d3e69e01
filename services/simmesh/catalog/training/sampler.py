"""Class-balanced P x K batches, with sibling groups drawn together.

Each batch holds up to P groups and up to K images of each. Groups are drawn in clusters: a
random group, then up to `siblings` of the groups sharing a parent with it, so most batches hold
the hard negatives (sibling groups) next to each anchor's positives. Groups with one image can
be drawn (as negatives for the others); K never exceeds a group's size, and draws within a group
are without replacement.
"""

from __future__ import annotations

import numpy as np


class GroupBatchSampler:
    def __init__(
        self,
        groups: np.ndarray,
        related: np.ndarray,
        batch_size: int,
        per_group: int,
        rng: np.random.Generator,
        siblings: int = 3,
    ) -> None:
        self._rng = rng
        members: dict[int, list[int]] = {}
        for position, group in enumerate(groups.tolist()):
            members.setdefault(group, []).append(position)
        self._members = {g: np.asarray(m, dtype=np.int64) for g, m in members.items()}
        self._groups = np.asarray(sorted(self._members), dtype=np.int64)
        present = np.zeros(related.shape[0], dtype=bool)
        present[self._groups] = True
        self._siblings = {int(g): np.flatnonzero(related[g] & present) for g in self._groups}
        self.per_group = max(2, min(per_group, batch_size // 2))
        self.groups_per_batch = max(2, min(len(self._groups), batch_size // self.per_group))
        self._sibling_draws = siblings

    def batch(self) -> np.ndarray:
        """Positions (into the `groups` array given at construction) of one batch."""
        chosen: list[int] = []
        taken: set[int] = set()
        order = self._rng.permutation(self._groups)
        for seed in order.tolist():
            if len(chosen) >= self.groups_per_batch:
                break
            if seed in taken:
                continue
            chosen.append(seed)
            taken.add(seed)
            candidates = [s for s in self._siblings[seed].tolist() if s not in taken]
            room = min(self._sibling_draws, self.groups_per_batch - len(chosen), len(candidates))
            if room > 0:
                for sibling in self._rng.choice(candidates, size=room, replace=False).tolist():
                    chosen.append(sibling)
                    taken.add(sibling)
        picks = []
        for group in chosen:
            members = self._members[group]
            k = min(self.per_group, members.size)
            picks.append(self._rng.choice(members, size=k, replace=False))
        return np.concatenate(picks)
