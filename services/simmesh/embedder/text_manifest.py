"""A dual encoder's text graph and tokenizer checked against its manifest and its image graph at import."""

from __future__ import annotations

import numpy as np
import onnx

from simmesh.embedder.text_tower import TextEncoder, TextFiles, load_tokenizer
from simmesh.imaging.manifest import graph_tensors, parse_graph, require_output
from simmesh.kit import reasons
from simmesh.kit.errors import InvalidArgument, SimmeshError
from simmesh_proto.v1.embedder_pb2 import MODEL_KIND_DUAL_ENCODER, ModelManifest

# Longest token sequence a manifest may ask for.
MAX_TEXT_LENGTH = 4096
# Nodes that pass token ids on unchanged in value, between the graph input and the embedding lookup.
_PASS_THROUGH = {"Cast", "Identity", "Reshape", "Unsqueeze", "Squeeze", "Flatten"}


def check_text_tower(manifest: ModelManifest, text: TextFiles | None) -> None:
    """For a DUAL_ENCODER manifest: the text graph has the manifest's inputs and output, its vectors have
    the image graph's dimension (`manifest.dimension`, already checked), and the tokenizer parses with
    a vocabulary that fits the graph's embedding table. For any other kind: no text files at all."""
    if manifest.kind != MODEL_KIND_DUAL_ENCODER:
        if text is not None or manifest.HasField("text"):
            raise InvalidArgument(
                "a text graph, tokenizer or manifest.text belongs to a DUAL_ENCODER model only",
                reason=reasons.INVALID_MANIFEST,
                field="header.manifest.kind",
            )
        return
    if not manifest.HasField("text") or text is None or not text.onnx or not text.tokenizer:
        raise InvalidArgument(
            "a DUAL_ENCODER model needs manifest.text, a text graph (text_chunk) and a tokenizer (tokenizer_chunk)",
            reason=reasons.TEXT_TOWER_MISSING,
            field="header.manifest.text",
        )
    tower = manifest.text
    if not tower.input_ids_name or not tower.output_name or not 0 < tower.max_length <= MAX_TEXT_LENGTH:
        raise InvalidArgument(
            f"manifest.text must name input_ids_name and output_name and set max_length 1..{MAX_TEXT_LENGTH}",
            reason=reasons.INVALID_MANIFEST,
            field="header.manifest.text",
        )
    graph = parse_graph(text.onnx, "text_chunk")
    _check_tensors(graph, manifest)
    vocabulary = load_tokenizer(text.tokenizer, tower.max_length).get_vocab_size(with_added_tokens=True)
    rows = embedding_rows(graph, tower.input_ids_name)
    if rows is not None and vocabulary > rows:
        raise _tokenizer_mismatch(
            f"the tokenizer's vocabulary has {vocabulary} tokens; the text graph's embedding table has {rows} rows"
        )
    _trial_run(manifest, text, vocabulary, rows)


def _check_tensors(graph: onnx.ModelProto, manifest: ModelManifest) -> None:
    tower = manifest.text
    inputs, outputs = graph_tensors(graph)
    wanted = {tower.input_ids_name} | ({tower.attention_mask_name} if tower.attention_mask_name else set())
    if set(inputs) != wanted:
        raise InvalidArgument(
            f"the text graph's inputs are {sorted(inputs)}; manifest.text names {sorted(wanted)}",
            reason=reasons.MANIFEST_MISMATCH,
            field="header.manifest.text",
        )
    require_output("the text graph", "manifest.text.output_name", tower.output_name, outputs)


def _trial_run(manifest: ModelManifest, text: TextFiles, vocabulary: int, rows: int | None) -> None:
    """Runs the text graph on the tokenizer's highest token id: a table too small fails here when
    `embedding_rows` could not find it."""
    encoder = TextEncoder("import", text, manifest)
    length = manifest.text.max_length
    ids = np.full((2, length), vocabulary - 1, dtype=np.int64)
    try:
        output = encoder.run(ids, np.ones_like(ids))
    except SimmeshError as error:
        if rows is None:
            raise _tokenizer_mismatch(
                f"the text graph fails on the tokenizer's highest token id {vocabulary - 1}: {error.message}"
            ) from None
        raise InvalidArgument(
            f"the trial run of the text graph failed: {error.message}",
            reason=reasons.MODEL_TRIAL_FAILED,
            field="text_chunk",
        ) from None
    if output.shape[1] != manifest.dimension:
        raise InvalidArgument(
            f"the text graph gives {output.shape[1]} values per text; the image graph gives {manifest.dimension}",
            reason=reasons.MANIFEST_MISMATCH,
            field="header.manifest.text.output_name",
        )


def embedding_rows(graph: onnx.ModelProto, input_ids: str) -> int | None:
    """Rows of the table the token ids index (a Gather on an initializer), or None where none is found."""
    tables = {i.name: i for i in graph.graph.initializer}
    ids = {input_ids}
    for node in graph.graph.node:  # nodes are in topological order
        if node.op_type in _PASS_THROUGH and node.input and node.input[0] in ids:
            ids.update(node.output)
        elif node.op_type == "Gather" and len(node.input) == 2 and node.input[1] in ids and node.input[0] in tables:
            return int(tables[node.input[0]].dims[0])
    return None


def _tokenizer_mismatch(message: str) -> InvalidArgument:
    return InvalidArgument(
        f"the tokenizer does not match the text graph: {message}",
        reason=reasons.TOKENIZER_MISMATCH,
        field="tokenizer_chunk",
    )
