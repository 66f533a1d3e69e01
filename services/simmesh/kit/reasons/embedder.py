"""Reasons the embedder raises: models and their import, images, texts."""

from grpc import StatusCode

from simmesh.kit.reasons.reason import Reason

BUILTIN_MODEL_READ_ONLY = Reason(
    "BUILTIN_MODEL_READ_ONLY",
    StatusCode.PERMISSION_DENIED,
    "`models/…` is a built-in model, shared read-only: import a model of your own under another id",
)
DUPLICATE_HEADER = Reason("DUPLICATE_HEADER", StatusCode.INVALID_ARGUMENT, "the header must be sent once, first")
IDS_LENGTH_MISMATCH = Reason("IDS_LENGTH_MISMATCH", StatusCode.INVALID_ARGUMENT, "ids has … entries for … images")
IMAGE_BASE64_INVALID = Reason("IMAGE_BASE64_INVALID", StatusCode.INVALID_ARGUMENT, "… is a data URL without ';base64,'")
IMAGES_AND_TEXTS = Reason("IMAGES_AND_TEXTS", StatusCode.INVALID_ARGUMENT, "a request embeds images or texts, not both")
IMAGE_EMPTY = Reason("IMAGE_EMPTY", StatusCode.INVALID_ARGUMENT, "… is empty (0 bytes)")
IMAGE_FETCH_FAILED = Reason(
    "IMAGE_FETCH_FAILED",
    (StatusCode.UNAVAILABLE, StatusCode.INVALID_ARGUMENT),
    "…: fetching … failed: …",
    retriable=True,
)
IMAGE_TOO_LARGE = Reason(
    "IMAGE_TOO_LARGE", StatusCode.RESOURCE_EXHAUSTED, "…: download passed the limit of … bytes; stopped"
)
IMAGE_TOO_MANY_PIXELS = Reason("IMAGE_TOO_MANY_PIXELS", StatusCode.RESOURCE_EXHAUSTED, "…: …; the limit is … pixels")
IMAGE_URI_NOT_ALLOWED = Reason(
    "IMAGE_URI_NOT_ALLOWED", StatusCode.INVALID_ARGUMENT, "…: no object store is configured for uri sources"
)
IMAGE_URL_INVALID = Reason(
    "IMAGE_URL_INVALID", StatusCode.INVALID_ARGUMENT, "… must be an absolute URL such as https://host/path, got …"
)
IMAGE_URL_NOT_ALLOWED = Reason(
    "IMAGE_URL_NOT_ALLOWED", StatusCode.INVALID_ARGUMENT, "…: … is not allowed: it leads to a non-public address"
)
INFERENCE_FAILED = Reason("INFERENCE_FAILED", StatusCode.INTERNAL, "model … failed: …")
INVALID_INPUT = Reason(
    "INVALID_INPUT", StatusCode.INVALID_ARGUMENT, "model …: input batch has shape …, expected [N, …]"
)
INVALID_MANIFEST = Reason(
    "INVALID_MANIFEST", StatusCode.INVALID_ARGUMENT, "model …: the manifest must name the input and the output tensor"
)
INVALID_MODEL_ID = Reason(
    "INVALID_MODEL_ID",
    StatusCode.INVALID_ARGUMENT,
    "model id … must be 1-63 lower-case letters, digits or '-', starting with a letter",
)
INVALID_SETTINGS = Reason(
    "INVALID_SETTINGS", StatusCode.INVALID_ARGUMENT, "runtime must be onnxruntime or triton, not …"
)
MANIFEST_MISMATCH = Reason(
    "MANIFEST_MISMATCH", StatusCode.INVALID_ARGUMENT, "manifest.input_name … is not an input of the graph (inputs: …)"
)
MISSING_HEADER = Reason("MISSING_HEADER", StatusCode.INVALID_ARGUMENT, "no header received")
MODEL_INVALID = Reason(
    "MODEL_INVALID",
    StatusCode.INVALID_ARGUMENT,
    "model …: the manifest names input … and output …; the graph has inputs … and outputs …",
)
MODEL_IR_UNSUPPORTED = Reason(
    "MODEL_IR_UNSUPPORTED",
    StatusCode.INVALID_ARGUMENT,
    "the ONNX file declares IR version …; the runtime loads IR <= … (re-save it with an older IR version)",
)
MODEL_NOT_LOADED = Reason("MODEL_NOT_LOADED", StatusCode.NOT_FOUND, "model … is not loaded")
MODEL_SIZE_MISMATCH = Reason(
    "MODEL_SIZE_MISMATCH", StatusCode.INVALID_ARGUMENT, "header.size_bytes says … bytes but … arrived"
)
MODEL_TOO_LARGE = Reason("MODEL_TOO_LARGE", StatusCode.RESOURCE_EXHAUSTED, "the ONNX file exceeds … bytes")
MODEL_TRIAL_FAILED = Reason("MODEL_TRIAL_FAILED", StatusCode.INVALID_ARGUMENT, "the trial run of the model failed: …")
MODEL_VERSION_IS_DEFAULT = Reason(
    "MODEL_VERSION_IS_DEFAULT",
    StatusCode.FAILED_PRECONDITION,
    "version … is the default of `models/…`; choose another default first",
)
MODEL_VERSION_NOT_FOUND = Reason(
    "MODEL_VERSION_NOT_FOUND", StatusCode.NOT_FOUND, "version `models/…/versions/…` does not exist"
)
NO_CANDIDATES = Reason("NO_CANDIDATES", StatusCode.INVALID_ARGUMENT, "candidates must hold at least one image")
NO_IMAGES = Reason("NO_IMAGES", StatusCode.INVALID_ARGUMENT, "images must not be empty")
NO_TEXT_TOWER = Reason(
    "NO_TEXT_TOWER",
    StatusCode.FAILED_PRECONDITION,
    "`models/…/versions/…` has no text tower: it embeds images only (import a dual encoder to query by text)",
)
REQUEST_TOO_LARGE = Reason(
    "REQUEST_TOO_LARGE",
    StatusCode.RESOURCE_EXHAUSTED,
    "images[…] brings the request to … bytes (or pixels), over its budget of …",
)
TEXT_TOWER_MISSING = Reason(
    "TEXT_TOWER_MISSING",
    StatusCode.INVALID_ARGUMENT,
    "a DUAL_ENCODER model needs manifest.text, a text graph and a tokenizer",
)
TOKENIZER_INVALID = Reason(
    "TOKENIZER_INVALID", StatusCode.INVALID_ARGUMENT, "the tokenizer is not a Hugging Face tokenizers JSON file: …"
)
TOKENIZER_MISMATCH = Reason(
    "TOKENIZER_MISMATCH",
    StatusCode.INVALID_ARGUMENT,
    "the tokenizer's vocabulary has … tokens; the text graph's embedding table has … rows",
)
TRITON_UNAVAILABLE = Reason(
    "TRITON_UNAVAILABLE", StatusCode.UNAVAILABLE, "tritonserver unavailable while … model …: …", retriable=True
)
