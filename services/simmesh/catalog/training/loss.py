"""Hierarchical supervised-contrastive loss on L2-normalised embeddings.

Two terms, each the mean over anchors i (that have positives) of the mean of `-log p_ij` over
i's positives j, where `p_ij` is a softmax of `cos(i, j) / temperature`:

- fine: positives are the images of i's group; the softmax runs over the whole batch (without
  i), so every other group, siblings included, is a negative;
- coarse: positives are the images of sibling groups (groups sharing a parent group with i's
  group); the softmax runs over the images of other groups only, so the term asks siblings to
  be closer than unrelated groups without pulling them towards i's own group.

`loss = (fine + w * coarse) / (1 + w)` with `w = parent_weight`.
The softmax weighs every negative by how close it is, so the gradient is dominated by the
hardest negatives of each anchor (the batch-level hard-example mining of supervised
contrastive learning); the sampler makes those negatives likely by filling batches with
sibling groups.
"""

from __future__ import annotations

import torch


def hierarchical_contrastive(
    embeddings: torch.Tensor,
    groups: torch.Tensor,
    related: torch.Tensor,
    parent_weight: float,
    temperature: float = 0.1,
) -> torch.Tensor:
    """The loss of a batch: `embeddings` [B, D] normalised, `groups` [B] long, `related` [G, G] bool."""
    n = embeddings.shape[0]
    eye = torch.eye(n, dtype=torch.bool, device=embeddings.device)
    logits = (embeddings @ embeddings.T / temperature).masked_fill(eye, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    log_prob = log_prob.masked_fill(eye, 0.0)
    same = (groups[:, None] == groups[None, :]) & ~eye
    fine = _positive_term(log_prob, same)
    if parent_weight <= 0:
        return fine
    siblings = related[groups][:, groups]
    if not bool(siblings.any()):
        return fine
    others = groups[:, None] != groups[None, :]
    coarse_logits = logits.masked_fill(~others, float("-inf"))
    coarse_log_prob = (coarse_logits - torch.logsumexp(coarse_logits, dim=1, keepdim=True)).masked_fill(~others, 0.0)
    coarse = _positive_term(coarse_log_prob, siblings)
    return (fine + parent_weight * coarse) / (1.0 + parent_weight)


def _positive_term(log_prob: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
    counts = positives.sum(dim=1)
    anchors = counts > 0
    if not bool(anchors.any()):
        return log_prob.sum() * 0.0
    weights = positives.to(log_prob.dtype)
    per_anchor = -(log_prob * weights).sum(dim=1)[anchors] / counts[anchors]
    return per_anchor.mean()
