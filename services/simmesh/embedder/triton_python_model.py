"""Triton Python-backend model that runs the ONNX file beside it with ONNX Runtime on CPU.

`triton_repository.write_model` copies this file into a model repository as
`{model}/{version}/model.py`. Triton's dynamic batcher hands `execute` several requests at
once; they are concatenated into one ONNX Runtime call and the result is split back.
The config parameter `intra_op_threads` sets ONNX Runtime's thread count.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        config = json.loads(args["model_config"])
        parameters = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        self.input_name = config["input"][0]["name"]
        self.output_name = config["output"][0]["name"]
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(parameters.get("intra_op_threads", "1"))
        options.inter_op_num_threads = 1
        # Idle ONNX Runtime threads otherwise spin on the cores that decode and serve requests.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        path = Path(args["model_repository"]) / args["model_version"] / "model.onnx"
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def execute(self, requests: list) -> list:
        batches = [pb_utils.get_input_tensor_by_name(r, self.input_name).as_numpy() for r in requests]
        try:
            (outputs,) = self.session.run([self.output_name], {self.input_name: np.concatenate(batches)})
        except Exception as exc:  # reported to every caller in the batch
            error = pb_utils.TritonError(f"onnxruntime failed: {exc}")
            return [pb_utils.InferenceResponse(error=error) for _ in requests]
        responses = []
        start = 0
        for batch in batches:
            end = start + len(batch)
            tensor = pb_utils.Tensor(self.output_name, np.ascontiguousarray(outputs[start:end], dtype=np.float32))
            responses.append(pb_utils.InferenceResponse(output_tensors=[tensor]))
            start = end
        return responses
