"""A dual encoder's text tower: texts tokenised, padded to the manifest's length, run through the text graph."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from simmesh.kit import reasons
from simmesh.kit.errors import Internal, InvalidArgument
from simmesh_proto.v1.embedder_pb2 import ModelManifest

# Integer types a text graph may take its token ids and mask in.
_INTEGER_TYPES = {"tensor(int64)": np.int64, "tensor(int32)": np.int32}


@dataclass(frozen=True)
class TextFiles:
    """The two files a dual encoder brings besides its image graph."""

    onnx: bytes
    tokenizer: bytes


def load_tokenizer(data: bytes, max_length: int) -> Tokenizer:
    """The tokenizer from its JSON file, set to truncate and pad every text to `max_length` tokens;
    INVALID_ARGUMENT (TOKENIZER_INVALID) when the file is not one."""
    try:
        tokenizer = Tokenizer.from_str(data.decode("utf-8"))
    except Exception as error:  # tokenizers raises plain Exceptions; a bad encoding is the same fault
        raise InvalidArgument(
            f"the tokenizer is not a Hugging Face tokenizers JSON file: {error}",
            reason=reasons.TOKENIZER_INVALID,
            field="tokenizer_chunk",
        ) from None
    padding = tokenizer.padding
    pad_id = padding["pad_id"] if padding else tokenizer.token_to_id("[PAD]") or 0
    pad_token = tokenizer.id_to_token(pad_id) or "[PAD]"
    tokenizer.enable_truncation(max_length)
    tokenizer.enable_padding(length=max_length, pad_id=pad_id, pad_token=pad_token)
    return tokenizer


class TextEncoder:
    """One text graph with its tokenizer in an ONNX Runtime session on the CPU.

        encoder = TextEncoder("clip_v1", files, manifest)
        vectors = encoder.encode(["a red circle"])      # float32 [1, manifest.dimension]

    Text towers are small and tokenising happens on the CPU anyway, so they run in this process
    whichever runtime serves the image graphs. `encode` blocks: call it in a thread.
    """

    def __init__(self, key: str, files: TextFiles, manifest: ModelManifest, intra_op_threads: int = 1) -> None:
        self.key = key
        self.tower = manifest.text
        self.dimension = manifest.dimension
        self.normalize = manifest.normalize and not manifest.output_normalized
        self.tokenizer = load_tokenizer(files.tokenizer, self.tower.max_length)
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(files.onnx, options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own error types
            raise InvalidArgument(
                f"model {key}: ONNX Runtime cannot load the text graph: {error}",
                reason=reasons.MODEL_INVALID,
                field="text_chunk",
            ) from None
        self.dtypes = {i.name: _INTEGER_TYPES.get(i.type, np.int64) for i in self.session.get_inputs()}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """float32 [len(texts), dimension], row i for text i (L2-normalised when the manifest says so)."""
        encodings = self.tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        return self.run(ids, mask)

    def run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The text graph on token ids and their mask, [N, max_length] each."""
        feeds = {self.tower.input_ids_name: ids.astype(self.dtypes[self.tower.input_ids_name])}
        if self.tower.attention_mask_name:
            feeds[self.tower.attention_mask_name] = mask.astype(self.dtypes[self.tower.attention_mask_name])
        try:
            (output,) = self.session.run([self.tower.output_name], feeds)
        except Exception as error:  # onnxruntime raises its own error types
            raise Internal(
                f"model {self.key}: the text graph failed: {error}",
                reason=reasons.INFERENCE_FAILED,
                metadata={"model": self.key},
            ) from None
        output = np.asarray(output, dtype=np.float32).reshape(len(ids), -1)
        if self.normalize:
            output = output / np.maximum(np.linalg.norm(output, axis=1, keepdims=True), 1e-12)
        return output
