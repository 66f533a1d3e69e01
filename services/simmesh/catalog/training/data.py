"""What a training run learns from: images, the group each belongs to, and the group graph.

A group holds images or other groups, never both. Two images are similar when they are in the
same group; images of two groups that share a direct parent group are similar at a coarser
level (weighted by `parent_weight` in the loss). A group is a test group when it, or any group
it sits under, is marked test: its images are kept out of training and used for evaluation.

    training_set = TrainingSet(
        images=[png0, png1, png2, png3],            # encoded bytes or PIL images
        image_groups=[0, 0, 1, 1],                  # the group index of each image
        group_parents=[[2], [2], []],               # groups 0 and 1 are members of group 2
    )
    prepared = prepare(training_set)                # validated, decoded, split

Errors (all from the catalogue, raised by `prepare`):

| reason                    | code                | when                                                  |
|---------------------------|---------------------|-------------------------------------------------------|
| TRAINING_SET_MISMATCH     | INVALID_ARGUMENT    | `image_groups` and `images` differ in length          |
| INVALID_GROUP_INDEX       | INVALID_ARGUMENT    | an image, parent or test index names no group         |
| GROUP_CYCLE               | INVALID_ARGUMENT    | a group is (indirectly) its own parent                |
| GROUP_HOLDS_IMAGES_AND_GROUPS | INVALID_ARGUMENT | a group with images is also another group's parent   |
| IMAGE_EMPTY, IMAGE_UNDECODABLE, IMAGE_TOO_MANY_PIXELS | as in the embedder | an image is bad |
| NEED_MORE_GROUPS          | FAILED_PRECONDITION | fewer than two groups with training images            |
| NEED_MORE_SAMPLES         | FAILED_PRECONDITION | no training group has two images (no positive pairs)  |

A group with a single image is accepted: it cannot form a positive pair, but it is a negative
for every other group.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from simmesh.imaging.decode import decode, to_rgb
from simmesh.kit import reasons
from simmesh.kit.errors import FailedPrecondition, InvalidArgument

ImageInput = Image.Image | bytes


@dataclass(frozen=True)
class TrainingSet:
    """Images with their group indices, each group's parent groups, and the test groups."""

    images: Sequence[ImageInput]
    image_groups: Sequence[int]
    group_parents: Sequence[Sequence[int]]
    test_groups: Collection[int] = frozenset()
    group_names: Sequence[str] = ()

    def group_label(self, index: int) -> str:
        if index < len(self.group_names):
            return f"group {index} ({self.group_names[index]})"
        return f"group {index}"


@dataclass(frozen=True)
class PreparedSet:
    """A validated training set: RGB pictures, group ids, the sibling relation, the split."""

    pictures: list[Image.Image]
    groups: np.ndarray  # int64 [n]: group index of each picture
    related: np.ndarray  # bool [g, g]: distinct groups that share a direct parent
    train: np.ndarray  # int64 indices of the training pictures
    test: np.ndarray  # int64 indices of the test pictures
    group_count: int
    train_groups: int = field(default=0)
    test_groups: int = field(default=0)


def prepare(training_set: TrainingSet) -> PreparedSet:
    """The set validated (graph first, then images) and split into training and test pictures."""
    groups = _image_groups(training_set)
    count = len(training_set.group_parents)
    parents = _parents(training_set, count)
    holders = set(groups.tolist())
    for child, own in enumerate(parents):
        for parent in own:
            if parent in holders:
                raise InvalidArgument(
                    f"{training_set.group_label(parent)} holds images and is also the parent of "
                    f"{training_set.group_label(child)}; a group holds images or groups, never both",
                    reason=reasons.GROUP_HOLDS_IMAGES_AND_GROUPS,
                    field=f"training_set.group_parents[{child}]",
                )
    testing = _test_closure(training_set, parents, count)
    is_test = np.array([g in testing for g in groups.tolist()], dtype=bool)
    train, test = np.flatnonzero(~is_test), np.flatnonzero(is_test)
    train_counts = np.bincount(groups[train], minlength=count)
    if int((train_counts > 0).sum()) < 2:
        raise FailedPrecondition(
            f"training needs images in at least two groups that are not test groups; "
            f"{int((train_counts > 0).sum())} group(s) have training images",
            reason=reasons.NEED_MORE_GROUPS,
            metadata={"training_groups": int((train_counts > 0).sum())},
        )
    if int(train_counts.max()) < 2:
        raise FailedPrecondition(
            "no training group has two images, so there is no pair of similar images to learn from",
            reason=reasons.NEED_MORE_SAMPLES,
            metadata={"largest_group": int(train_counts.max())},
        )
    pictures = [_picture(image, f"training_set.images[{i}]") for i, image in enumerate(training_set.images)]
    test_counts = np.bincount(groups[test], minlength=count)
    return PreparedSet(
        pictures=pictures,
        groups=groups,
        related=_siblings(parents, count),
        train=train,
        test=test,
        group_count=count,
        train_groups=int((train_counts > 0).sum()),
        test_groups=int((test_counts > 0).sum()),
    )


def _image_groups(training_set: TrainingSet) -> np.ndarray:
    if len(training_set.image_groups) != len(training_set.images):
        raise InvalidArgument(
            f"training_set has {len(training_set.images)} images but {len(training_set.image_groups)} group indices",
            reason=reasons.TRAINING_SET_MISMATCH,
            field="training_set.image_groups",
        )
    count = len(training_set.group_parents)
    groups = np.asarray(training_set.image_groups, dtype=np.int64).reshape(-1)
    bad = np.flatnonzero((groups < 0) | (groups >= count))
    if bad.size:
        i = int(bad[0])
        raise InvalidArgument(
            f"image {i} names group {int(groups[i])}, but there are {count} groups (0..{count - 1})",
            reason=reasons.INVALID_GROUP_INDEX,
            field=f"training_set.image_groups[{i}]",
        )
    return groups


def _parents(training_set: TrainingSet, count: int) -> list[tuple[int, ...]]:
    parents: list[tuple[int, ...]] = []
    for child, own in enumerate(training_set.group_parents):
        for parent in own:
            if not 0 <= parent < count:
                raise InvalidArgument(
                    f"{training_set.group_label(child)} names parent {parent}, but there are {count} groups",
                    reason=reasons.INVALID_GROUP_INDEX,
                    field=f"training_set.group_parents[{child}]",
                )
        parents.append(tuple(sorted(set(int(p) for p in own))))
    state = [0] * count  # 0 unvisited, 1 on the current path, 2 done
    for start in range(count):
        if state[start]:
            continue
        state[start] = 1
        stack = [(start, iter(parents[start]))]
        while stack:
            node, pending = stack[-1]
            nxt = next(pending, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
            elif state[nxt] == 1:
                raise InvalidArgument(
                    f"{training_set.group_label(nxt)} is its own ancestor through {training_set.group_label(node)}",
                    reason=reasons.GROUP_CYCLE,
                    field=f"training_set.group_parents[{node}]",
                )
            elif state[nxt] == 0:
                state[nxt] = 1
                stack.append((nxt, iter(parents[nxt])))
    return parents


def _test_closure(training_set: TrainingSet, parents: list[tuple[int, ...]], count: int) -> set[int]:
    marked = set()
    for index in training_set.test_groups:
        if not 0 <= index < count:
            raise InvalidArgument(
                f"test group {index} does not exist; there are {count} groups",
                reason=reasons.INVALID_GROUP_INDEX,
                field="training_set.test_groups",
            )
        marked.add(int(index))
    closed: set[int] = set()
    for group in range(count):
        seen, frontier = {group}, [group]
        while frontier:
            node = frontier.pop()
            for parent in parents[node]:
                if parent not in seen:
                    seen.add(parent)
                    frontier.append(parent)
        if seen & marked:
            closed.add(group)
    return closed


def _siblings(parents: list[tuple[int, ...]], count: int) -> np.ndarray:
    children: dict[int, list[int]] = {}
    for child, own in enumerate(parents):
        for parent in own:
            children.setdefault(parent, []).append(child)
    related = np.zeros((count, count), dtype=bool)
    for members in children.values():
        index = np.asarray(members)
        related[np.ix_(index, index)] = True
    np.fill_diagonal(related, False)
    return related


def _picture(image: ImageInput, field_name: str) -> Image.Image:
    if isinstance(image, Image.Image):
        return to_rgb(image)
    if isinstance(image, (bytes, bytearray, memoryview)):
        return decode(bytes(image), field=field_name)
    raise InvalidArgument(
        f"{field_name} is a {type(image).__name__}, not image bytes or a PIL image",
        reason=reasons.IMAGE_UNDECODABLE,
        field=field_name,
    )
