"""The OpenAPI 3.1 document served at GET /api/openapi.json (limits from the server config)."""

from __future__ import annotations

from typing import Any

from .. import __version__
from ..sampling.presets import PRESET_NAMES
from .config import ServeConfig
from .validation import REQUIRED, generate_fields

JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _param(name: str, where: str, schema: dict, description: str = "") -> dict[str, Any]:
    param = {"name": name, "in": where, "required": where == "path", "schema": schema}
    return {**param, "description": description} if description else param


ERROR_TEXT = {
    400: "the body is not valid JSON, or the X-Client-Id header is malformed",
    404: "no such model, job or image",
    409: "the job is not in a state that allows this (or was cancelled while waited for)",
    403: "a Host or Origin header this server does not answer to (see --allow-host), or a "
    "job that another client created",
    413: "the body is larger than the server accepts",
    415: "the body is not sent as application/json",
    422: "a field is invalid: error.field and error.message say which and why",
    429: "the queue is full: retry after the Retry-After header's seconds",
    500: "the model produced NaN/inf or the server failed (never a fake image)",
    503: "the model cannot be loaded or served, the server is not ready, or too many event "
    "streams and waits are open (retry after Retry-After)",
}
OBJECT, ARRAY, STRING = {"type": "object"}, {"type": "array"}, {"type": "string"}
SEGMENT = {"type": "string", "pattern": "^[^/]+$"}  # one path segment
JOB_ID = _param("job_id", "path", SEGMENT)
NAME = _param("name", "path", SEGMENT)
INDEX = _param("index", "path", {"type": "integer", "minimum": 0})
WAIT = _param(
    "wait",
    "query",
    {"type": "string", "enum": ["true", "false", "1", "0"]},
    "true: block until the images are ready and answer with them as base64 PNG",
)
CLIENT = _param(
    "X-Client-Id",
    "header",
    {"type": "string", "pattern": "^[!-~]{1,64}$"},
    "who the client is, beside its address: fair shares, limits, rollout A/B and canary "
    "splits and who may cancel a job (default: the address alone)",
)
SSE = {"text/event-stream": {}}
PNG = {"image/png": {}}

# (method, path, summary, (status, description, schema or {media: {}}), error codes, params)
OPERATIONS = [
    ("get", "/api/health", "liveness", (200, "alive", _ref("Health")), (), []),
    (
        "get",
        "/api/ready",
        "readiness: workers up and a valid model (with ?model=NAME: a worker up for it); an "
        "API replica also needs its broker",
        (200, "ready", _ref("Ready")),
        (404, 503),
        [_param("model", "query", STRING, "the model that must be servable")],
    ),
    (
        "get",
        "/api/models",
        "every model found, valid or not (with the reason)",
        (200, "models", {"type": "array", "items": _ref("Model")}),
        (),
        [],
    ),
    ("get", "/api/models/{name}", "one model", (200, "model", _ref("Model")), (404,), [NAME]),
    (
        "post",
        "/api/models/reload",
        "re-scan the model roots now",
        (200, "changes", _ref("Reload")),
        (),
        [],
    ),
    (
        "post",
        "/api/generate",
        "queue a generation job; poll it or stream its events",
        (202, "queued (200 with ?wait=true: done, with images_base64)", _ref("Job")),
        (400, 404, 409, 413, 415, 422, 429, 500, 503),
        [WAIT, CLIENT],
    ),
    (
        "get",
        "/api/jobs/{job_id}",
        "job status and progress",
        (200, "job", _ref("Job")),
        (404,),
        [JOB_ID],
    ),
    (
        "delete",
        "/api/jobs/{job_id}",
        "cancel (within one denoising step); only the client that created the job, or the "
        "admin token (Authorization: Bearer, $PICODIFF_ADMIN_TOKEN)",
        (200, "cancelled", _ref("Job")),
        (400, 404, 409),
        [JOB_ID, CLIENT],
    ),
    (
        "get",
        "/api/jobs/{job_id}/events",
        "Server-Sent Events: progress (step, total, eta_seconds, images_done), preview "
        "(base64 PNG every few steps), then done (the images), failed or cancelled",
        (200, "event stream", SSE),
        (400, 404, 503),
        [JOB_ID, CLIENT],
    ),
    (
        "get",
        "/api/jobs/{job_id}/images/{index}.png",
        "one finished image",
        (200, "PNG", PNG),
        (404, 409),
        [JOB_ID, INDEX],
    ),
    (
        "get",
        "/api/rollouts",
        "rollout state and per-version metrics",
        (200, "rollouts", ARRAY),
        (),
        [],
    ),
    ("get", "/api/openapi.json", "this document", (200, "OpenAPI 3.1", OBJECT), (), []),
]


def _operation(path: str, summary: str, ok: tuple, errors: tuple, params: list) -> dict[str, Any]:
    status, description, schema = ok
    content = (
        schema if set(schema) <= {"text/event-stream", "image/png"} else {JSON: {"schema": schema}}
    )
    responses = {str(status): {"description": description, "content": content}}
    if path == "/api/generate":  # ?wait=true
        responses["200"] = {"description": "with ?wait=true: the finished job", "content": content}
    for code in sorted({403, *errors}):  # 403: any request, for a foreign Host or Origin
        not_ready = path == "/api/ready" and code == 503
        body = _ref("Ready") if not_ready else _ref("Error")  # not ready: the same body
        responses[str(code)] = {
            "description": ERROR_TEXT[code],
            "content": {JSON: {"schema": body}},
        }
    operation: dict[str, Any] = {"summary": summary, "responses": responses}
    if params:
        operation["parameters"] = params
    if path == "/api/generate":
        body = {JSON: {"schema": _ref("GenerateRequest")}}
        operation["requestBody"] = {"required": True, "content": body}
    return operation


def _paths() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for method, path, *rest in OPERATIONS:
        paths.setdefault(path, {})[method] = _operation(path, *rest)
    return paths


def _object(required: tuple[str, ...] | None = None, **properties: Any) -> dict[str, Any]:
    """An object schema; every property is required unless `required` says otherwise."""
    names = tuple(properties) if required is None else required
    return {"type": "object", "required": list(names), "properties": properties}


def _maybe(kind: str) -> dict[str, Any]:
    return {"type": [kind, "null"]}


INTEGER, NUMBER, BOOLEAN = {"type": "integer"}, {"type": "number"}, {"type": "boolean"}
STATUS = {"type": "string", "enum": ["queued", "running", "done", "failed", "cancelled"]}
ERROR_BODY = _object(
    ("status", "message"),
    status=INTEGER,
    message=STRING,
    field={"type": "string", "description": "the request field at fault, if any"},
)
ERROR = _object(error=_ref("ErrorBody"))
STAGE = _object(
    ("path", "resolution", "low_res", "parameters", "T", "schedule"),
    path=STRING,
    resolution=INTEGER,
    low_res=_maybe("integer"),
    parameters=INTEGER,
    T=INTEGER,
    schedule=_maybe("string"),
    sampler=STRING,
    steps=INTEGER,
    eta=NUMBER,
    spacing=STRING,
    aug_level=NUMBER,
)
MODEL = _object(
    name=STRING,
    version=_maybe("string"),
    valid=BOOLEAN,
    reason=_maybe("string"),
    kind={"type": "string", "enum": ["checkpoint", "legacy", "cascade", "unrecognized"]},
    resolution=_maybe("integer"),
    channels=_maybe("integer"),
    T=_maybe("integer"),
    schedule=_maybe("string"),
    schedule_config={"type": ["object", "null"], "additionalProperties": {}},
    prediction=_maybe("string"),
    parameters=_maybe("integer"),
    file_size=INTEGER,
    fid=_maybe("number"),
    fid_threshold=_maybe("number"),
    conditioning={
        "oneOf": [
            _object(
                kind={"type": "string", "enum": ["class"]},
                field=STRING,
                labels={"type": "array", "items": STRING},
            ),
            _object(
                kind={"type": "string", "enum": ["text"]},
                encoder=STRING,
                encoder_key=STRING,
                tokens=INTEGER,
                fields={"type": "array", "items": STRING},
            ),
            {"type": "null"},
        ],
        "description": "a class-conditional model's labels (POST /api/generate takes a label) "
        "or a text-conditional model's sentence encoder (it takes a prompt)",
    },
    guidance={
        "type": ["number", "null"],
        "description": "the guidance w a label or prompt is drawn with when a request gives "
        "none: the model's measured default, else 3 (null: not conditional)",
    },
    licences={
        "type": "array",
        "items": _object(name=STRING, license=STRING, attribution=STRING),
        "description": "the licence and attribution of the images it was trained on",
    },
    sampling={
        "oneOf": [
            _object(
                default={"type": "string", "enum": list(PRESET_NAMES)},
                presets={
                    "type": "object",
                    "additionalProperties": _object(
                        sampler=STRING, steps=INTEGER, spacing=STRING, nfe=INTEGER, fid=NUMBER
                    ),
                },
                measured={"type": "string", "description": "the command that measured them"},
            ),
            {"type": "null"},
        ],
        "description": "the sampling presets (fast, balanced, best) the model's measured "
        "FID-NFE curve picked, with each one's network evaluations and FID, and the one a "
        "request without sampler or preset draws with (null: none measured)",
    },
    warnings={"type": "array", "items": STRING},
    stages={"type": "array", "items": _ref("Stage")},
    loaded=BOOLEAN,
    health=_ref("ModelHealth"),
    default_steps={
        "type": ["object", "null"],
        "description": "each sampler's default step count for this model (null: invalid)",
        "additionalProperties": INTEGER,
    },
)
NUMBERS = {"type": "array", "items": NUMBER}
OUTPUT_STATS = _object(
    images=INTEGER,
    clipped={"type": "number", "description": "share of output values at -1 or 1 (or beyond)"},
    mean=NUMBERS,
    std=NUMBERS,
    eps_rms={
        "type": "object",
        "description": "RMS of the predicted noise at the first step at or below t = key * T",
        "additionalProperties": NUMBER,
    },
)
QUALITY_POINT = _object(finished=NUMBER, fid=NUMBER, kid=NUMBER, n=INTEGER)
MODEL_HEALTH = _object(
    jobs={
        **_object(done=INTEGER, failed=INTEGER, cancelled=INTEGER),
        "description": "finished jobs of this version since the server started (a rollout "
        "candidate's failed attempts count as failed)",
    },
    outputs=_object(
        status={
            "type": "string",
            "enum": ["ok", "drifting", "nan", "no reference", "too few images"],
        },
        drift={
            "type": ["number", "null"],
            "description": "largest deviation from the statistics recorded in training over "
            "its tolerance (>= 1: drifting)",
        },
        worst=_maybe("string"),
        nan_batches=INTEGER,
        outputs={"oneOf": [OUTPUT_STATS, {"type": "null"}]},
    ),
    quality=_object(
        reference={"type": "boolean", "description": "whether quality checks can run"},
        latest={
            "oneOf": [
                {**QUALITY_POINT, "additionalProperties": {}},
                {"type": "null"},
            ]
        },
        last_failure={
            "oneOf": [_object(reason=STRING, at=NUMBER), {"type": "null"}],
        },
        history={"type": "array", "items": QUALITY_POINT},
    ),
)
PROGRESS = _object(
    step={"type": "integer", "description": "denoising steps done by its furthest-advanced images"},
    total=INTEGER,
    images_done=INTEGER,
    eta_seconds=_maybe("number"),
)
JOB = _object(
    (
        "id",
        "status",
        "model",
        "version",
        "alias",
        "n",
        "sampler",
        "steps",
        "eta",
        "spacing",
        "seed",
        "label",
        "prompt",
        "guidance",
        "progress",
        "created",
        "started",
        "finished",
        "latency_seconds",
        "stopped_at_step",
        "images",
        "error",
    ),
    id=STRING,
    status=STATUS,
    model=STRING,
    version=_maybe("string"),
    alias=_maybe("string"),
    n=INTEGER,
    sampler=STRING,
    steps=INTEGER,
    eta=NUMBER,
    spacing=STRING,
    seed=INTEGER,
    label={"type": ["string", "null"], "description": "the class drawn (its name)"},
    prompt={"type": ["string", "null"], "description": "the text drawn"},
    guidance=_maybe("number"),
    progress=_ref("Progress"),
    created=NUMBER,
    started=_maybe("number"),
    finished=_maybe("number"),
    latency_seconds=_maybe("number"),
    stopped_at_step=_maybe("integer"),
    images={"type": "array", "items": STRING, "description": "URLs of the finished images"},
    error={"oneOf": [_ref("ErrorBody"), {"type": "null"}]},
    images_base64={"type": "array", "items": STRING, "description": "with ?wait=true"},
)
HEALTH = _object(status=STRING, version=STRING)
READY = _object(
    ("ready", "workers", "valid_models"),
    ready=BOOLEAN,
    workers=BOOLEAN,  # a sampling worker is alive
    valid_models=INTEGER,
    reason=STRING,  # why not ready
    broker={"type": "string", "enum": ["ok", "unreachable"]},  # an API replica's Redis
    live_workers=INTEGER,  # an API replica's: workers with a fresh heartbeat
)
NAMES = {"type": "array", "items": STRING}
RELOAD = _object(
    added=NAMES,
    removed=NAMES,
    changed=NAMES,
    in_progress={"type": "boolean"},  # true: a scan was running; it finds the same changes
    models={"type": "array", "items": _ref("Model")},
)
# the data of each Server-Sent Event of GET /api/jobs/{job_id}/events
EVENTS = {
    "ProgressEvent": _object(id=STRING, status=STATUS, **PROGRESS["properties"]),
    "PreviewEvent": _object(id=STRING, step=INTEGER, png={"type": "string", "format": "byte"}),
    "EventImage": _object(index=INTEGER, url=STRING, png={"type": "string", "format": "byte"}),
    "DoneEvent": _object(id=STRING, images={"type": "array", "items": _ref("EventImage")}),
    "FailedEvent": _object(id=STRING, error={"oneOf": [_ref("ErrorBody"), {"type": "null"}]}),
    "CancelledEvent": _object(id=STRING, stopped_at_step=_maybe("integer")),
}


def _schemas(config: ServeConfig) -> dict[str, Any]:
    fields = generate_fields(config)
    request = _object(
        tuple(f.name for f in fields if f.default is REQUIRED),
        **{f.name: f.schema() for f in fields},
    )
    request["additionalProperties"] = False
    # eta applies to ddim only: with any other sampler (the default included) it must be 0
    request["if"] = {"required": ["sampler"], "properties": {"sampler": {"const": "ddim"}}}
    request["else"] = {"properties": {"eta": {"const": 0}}}
    # a preset sets the sampler, steps and spacing
    given = [{"required": [name]} for name in ("sampler", "steps", "spacing")]
    request["dependentSchemas"] = {"preset": {"not": {"anyOf": given}}}
    return {
        "GenerateRequest": request,
        "Error": ERROR,
        "ErrorBody": ERROR_BODY,
        "Model": MODEL,
        "ModelHealth": MODEL_HEALTH,
        "Stage": STAGE,
        "Job": JOB,
        "Progress": PROGRESS,
        "Health": HEALTH,
        "Ready": READY,
        "Reload": RELOAD,
        **EVENTS,
    }


def openapi_document(config: ServeConfig) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "picodiff serve",
            "version": __version__,
            "description": "Generate images with DDPM models; errors are JSON with a reason.",
        },
        "paths": _paths(),
        "components": {"schemas": _schemas(config)},
    }
