"""Typed config: one pydantic model per etc/*.json file, strict on read, atomic on write.

The models' defaults are the templates: `mh init` writes them, and a test keeps the committed
etc/*.json files equal to them, so the defaults live in exactly one place.
"""

from __future__ import annotations

import os
import re
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, Field, PrivateAttr, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from .errors import ConfigError
from .home import Home
from .jsonio import pretty, read_json_file, write_json
from .strict import StrictModel
from .trust import PolicyRule, TrustLevel

__all__ = ["PolicyRule", "StrictModel"]  # re-exported: config files are read through this module


class TrustConfig(StrictModel):
    level: TrustLevel = TrustLevel.suggest
    approval_ttl_hours: float = Field(default=24.0, gt=0, le=24 * 365)
    rules: list[PolicyRule] = Field(default_factory=list)
    # Set only on the fail-closed stand-in for a missing or unreadable etc/trust.json (see load_trust):
    # why mh acts at `observe`. A private attribute, so it is never written to the file.
    _fallback: str | None = PrivateAttr(default=None)

    @property
    def fallback(self) -> str | None:
        return self._fallback

    @property
    def fallback_fix(self) -> str | None:
        return TRUST_FIX if self._fallback else None


TRUST_FIX = ("run `mh trust LEVEL` to write etc/trust.json again (no policy rules, approvals expire after 24 h), "
             "or restore the file (or fix it, to keep its rules)")


class AuditConfig(StrictModel):
    checkpoint_every: int = Field(default=1000, ge=1, description="sign a checkpoint every N entries")
    fsync_every: int = Field(default=1000, ge=1, description="group commit: fsync after N entries")
    fsync_interval_ms: int = Field(default=100, ge=0, description="... or once this long has passed")
    seal_interval_s: float = Field(default=30.0, gt=0, le=3600, description="sign a checkpoint at most this long after an entry")


class WebSearchConfig(StrictModel):
    provider: Literal["none", "searxng", "brave"] = "none"
    searxng_url: str | None = Field(default=None, description="e.g. http://127.0.0.1:8888")
    brave_url: str = "https://api.search.brave.com/res/v1/web/search"
    brave_key_env: str = Field(default="BRAVE_API_KEY", description="environment variable holding the key")
    max_results: int = Field(default=5, ge=1, le=50)
    timeout_s: float = Field(default=10.0, gt=0, le=120)


class AgentConfig(StrictModel):
    provider: Literal["embedded", "ollama", "openai-compatible"] = "embedded"
    model: str | None = Field(
        default=None,
        description="embedded: a GGUF path (default: the shipped SmolLM2); ollama/openai-compatible: the model name",
    )
    base_url: str | None = Field(default=None, description="ollama: default http://127.0.0.1:11434; openai-compatible: required")
    api_key_env: str | None = Field(default=None, description="environment variable holding the API key, if any")
    n_ctx: int = Field(default=4096, ge=512, le=131072)
    max_tokens: int = Field(default=256, ge=1, le=8192)
    temperature: float = Field(default=0.2, ge=0, le=2)
    threads: int | None = Field(default=None, ge=1, le=256)
    timeout_s: float = Field(default=60.0, gt=0)
    web_search: WebSearchConfig = Field(default_factory=WebSearchConfig)


class MemoryConfig(StrictModel):
    max_file_bytes: int = Field(default=10 << 20, ge=1, description="inbox files larger than this go to _failed/")
    chunk_chars: int = Field(default=2000, ge=200, le=100_000, description="long files become memories of about this size")
    settle_ms: int = Field(default=500, ge=0, le=600_000, description="a file must be unchanged this long before it is read")
    batch_files: int = Field(default=64, ge=1, le=10_000, description="files per ingest batch (one sync per batch)")
    organize_batch: int = Field(default=20, ge=1, le=10_000, description="memories the organizer tags per run")
    organize_idle_mins: float = Field(default=5.0, ge=0, le=24 * 60, description="the organizer runs after the person is idle this long")
    organize_every_s: float = Field(default=300.0, ge=1, le=24 * 3600, description="how often the organizer looks for new memories")
    organize_tagger: Literal["extractive", "model"] = Field(
        default="extractive", description="extractive: words and names from the text (measured better, see docs/PERFORMANCE.md); model: the chat model")


class DatasetConfig(StrictModel):
    half_life_days: float = Field(default=90.0, gt=0, description="time-weighted sampling: a memory this old weighs half")
    max_pairs: int = Field(default=5000, ge=1, description="build samples at most this many pairs")
    max_dated_pairs: int = Field(
        default=200, ge=0, description="at most this many \"what did I note on DAY?\" pairs (style, not facts) a night, drawn time-weighted; "
                                       "keeps a large home's nightly short (every fact pair is kept)")
    max_pair_chars: int = Field(default=4000, ge=100, description="clean drops longer pairs")
    secrets: Literal["redact", "drop"] = Field(default="redact", description="what clean does with a pair that holds a secret")
    pii: bool = Field(default=False, description="clean also redacts emails and phone numbers")
    near_duplicate_jaccard: float = Field(default=0.8, gt=0, le=1, description="shingle overlap that counts as a near duplicate")
    seed: int = 0


DEFAULT_PROBES = ["Who are you?", "What do you value?", "What did I note last week?"]


class LoraSettings(StrictModel):
    r: int = Field(default=16, ge=1, le=256)
    alpha: float = Field(default=32.0, gt=0)
    dropout: float = Field(default=0.0, ge=0, lt=1)
    # attention and MLP: facts live in the MLP layers as much as in attention
    target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
                                      min_length=1)


class GateSettings(StrictModel):
    max_eval_loss: float | None = Field(default=None, gt=0, description="the adapter's eval loss must be at most this")
    min_improvement: float | None = Field(default=0.0, description="base eval loss minus adapter eval loss, at least this")
    min_facts_gained: int | None = Field(
        default=1, description="held-out fact questions the adapter answers right (closed book) minus those the base does, "
        "at least this; not applied when the dataset holds no fact questions")
    max_grounded_facts_lost: int | None = Field(
        default=0, description="fact questions answered right with the note in the prompt: the base's minus the adapter's, at most this")
    identity: bool = Field(default=True, description="the adapter must still say its persona's name when asked who it is")


class FaultInjection(StrictModel):
    """For tests of the failure paths: report this loss at this step instead of the real one."""

    loss: Literal["nan", "inf"]
    at_step: int = Field(ge=1)


INFRA_PATTERN = r"^(?:[a-z][a-z0-9]*)(?:/[A-Za-z0-9*][A-Za-z0-9_.*-]*){0,2}$"


class RemoteSettings(StrictModel):
    """Where `mh train --remote` trains: a machine SkyPilot rents. Credentials never live here;
    they stay where SkyPilot keeps them (`sky check` shows which infra is usable)."""

    engine: Literal["skypilot"] = "skypilot"
    infra: str | None = Field(default=None, pattern=INFRA_PATTERN, description="SkyPilot infra: runpod, lambda, k8s, aws/us-east-1, ssh/POOL")
    accelerators: str = Field(default="RTX4090:1", pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*(?::[1-9][0-9]?)?$", description="NAME:COUNT")
    use_spot: bool = False
    autostop_minutes: int = Field(default=10, ge=1, le=1440, description="idle minutes before the machine tears itself down")
    disk_gb: int = Field(default=64, ge=10, le=4096)
    max_hours: float = Field(default=2.0, gt=0, le=72, description="the job is stopped and the machine torn down after this long")
    max_cost_usd: float | None = Field(default=None, gt=0, description="refuse to launch when hourly price x max_hours exceeds this")
    nightly: bool = Field(default=False, description="`mh nightly` trains remotely without --remote (needs max_cost_usd)")

    @model_validator(mode="after")
    def _nightly_has_a_ceiling(self) -> RemoteSettings:
        # the sleep service rents a machine every night without asking: never without a price limit
        if self.nightly and self.max_cost_usd is None:
            raise ValueError("remote.nightly rents a machine every night unasked: set remote.max_cost_usd too")
        return self


# Hugging Face's (and Unsloth's, MetaHuman's etc/training.json) names of mh's run keys: the same
# meaning, so a file that uses them reads as if it used mh's.
HF_RUN_KEYS: dict[str, tuple[str, ...]] = {
    "per_device_train_batch_size": ("batch_size",),
    "max_seq_length": ("max_seq_len",),
    "max_steps": ("steps",),
    "num_train_epochs": ("epochs",),
    "base_model": ("base",),
    "lora_rank": ("lora", "r"),
    "lora_r": ("lora", "r"),
    "lora_alpha": ("lora", "alpha"),
    "lora_dropout": ("lora", "dropout"),
    # Helix's (its documented settings table)
    "total_steps": ("steps",),
    "checkpoint_steps": ("checkpoint_every",),
}
# Their names that mean something mh does not do: refused, saying what to set instead.
HF_RUN_REFUSED = {
    "gradient_accumulation_steps": ("batch_size", "mh does not accumulate gradients: batch_size is the whole batch of a step "
                                    "(set it to per_device_train_batch_size x gradient_accumulation_steps if memory allows, and remove this key)"),
}


class RunKeyError(ValueError):
    """A run key mh cannot read: `fix` names mh's key."""

    def __init__(self, key: str, problem: str, fix: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key, self.problem, self.fix = key, problem, fix


def mh_run_keys(data: dict[str, Any]) -> dict[str, Any]:
    """A run config's keys as mh names them: Hugging Face's names moved to mh's, those mh cannot take
    refused (RunKeyError) with mh's key named. Both spellings with different values is refused too."""
    out = dict(data)
    for key, (mh_key, why) in HF_RUN_REFUSED.items():
        if key in out:
            raise RunKeyError(key, f"not an mh key (mh's is {mh_key})", why)
    for key, path in HF_RUN_KEYS.items():
        if key not in out:
            continue
        value = out.pop(key)
        parent = out
        shown = ".".join(path)
        for part in path[:-1]:
            inner = parent.setdefault(part, {})
            if not isinstance(inner, dict):
                raise RunKeyError(key, f"is mh's {shown}, but {part} is not a mapping", f"write {part} as a mapping, e.g. {part}: {{r: 8}}")
            parent[part] = inner = dict(inner)
            parent = inner
        if path[-1] in parent and parent[path[-1]] != value:
            raise RunKeyError(key, f"is mh's {shown}, which is also given ({parent[path[-1]]!r}, not {value!r})", f"keep one of {key} and {shown}")
        parent[path[-1]] = value
    return out


class RunConfig(StrictModel):
    base: str | None = Field(default=None, description="a GGUF file or a Hugging Face folder; default: the chat model's GGUF")
    backend: Literal["auto", "trl", "unsloth"] = "auto"
    steps: int | None = Field(default=None, ge=1, description="optimizer steps; when unset, `epochs` passes over the pairs")
    epochs: float = Field(default=1.75, gt=0, le=100, description="passes over the training pairs, when `steps` is unset")
    knowledge_repeats: int = Field(default=3, ge=1, le=20, description="times each fact question and identity pair is trained per pass "
                                   "(they hold what the adapter must know; a note's dated pair holds style, once)")
    batch_size: int = Field(default=8, ge=1)
    learning_rate: float = Field(default=1e-3, gt=0, lt=1)
    schedule: Literal["constant", "cosine", "linear"] = Field(
        default="cosine", description="the learning rate after warm-up: cosine ends at a tenth of it, linear at 0")
    max_seq_len: int = Field(default=256, ge=16, le=8192)
    seed: int = 0
    checkpoint_every: int = Field(default=10, ge=1)
    threads: int | None = Field(default=None, ge=1)
    lora: LoraSettings = Field(default_factory=LoraSettings)
    gates: GateSettings = Field(default_factory=GateSettings)
    probes: list[str] = Field(default_factory=lambda: list(DEFAULT_PROBES))
    merged_type: Literal["f16", "q8_0"] = "f16"
    fault: FaultInjection | None = None
    remote: RemoteSettings = Field(default_factory=RemoteSettings)

    @model_validator(mode="before")
    @classmethod
    def _hugging_face_names(cls, data: Any) -> Any:
        return _mh_keys_or_error(data) if isinstance(data, dict) else data


def _mh_keys_or_error(data: dict[str, Any]) -> dict[str, Any]:
    try:
        return mh_run_keys(data)
    except RunKeyError as exc:
        raise PydanticCustomError("mh_key", "{key}: {problem}", {"key": exc.key, "problem": exc.problem, "fix": exc.fix}) from None


class TrainingConfig(StrictModel):
    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    run: RunConfig = Field(default_factory=RunConfig, description="defaults of every training run")

    @model_validator(mode="before")
    @classmethod
    def _flat_run_keys(cls, data: Any) -> Any:
        """MetaHuman's etc/training.json holds the run's keys at its top level: they are read as `run`'s."""
        if not isinstance(data, dict):
            return data
        flat = {key: data[key] for key in data if key in RunConfig.model_fields or key in HF_RUN_KEYS or key in HF_RUN_REFUSED}
        if not flat:
            return data
        run = _mh_keys_or_error(data.get("run") if isinstance(data.get("run"), dict) else {})
        _merge_into(run, _mh_keys_or_error(flat), "run.")
        return {**{key: value for key, value in data.items() if key not in flat}, "run": run}


def _merge_into(into: dict[str, Any], given: dict[str, Any], where: str) -> None:
    """`given` added to `into`, nested dicts key by key; a key both hold with different values is refused."""
    for key, value in given.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            into[key] = inner = dict(into[key])
            _merge_into(inner, value, f"{where}{key}.")
        elif key in into and into[key] != value:
            raise PydanticCustomError("mh_key", "{key}: {problem}", {
                "key": key, "problem": f"given at the top level ({value!r}) and as {where}{key} ({into[key]!r})",
                "fix": "keep one of the two"})
        else:
            into[key] = value


class DatasetGates(StrictModel):
    min_pairs: int = Field(default=10, ge=1, description="verify refuses a smaller dataset")
    max_low_confidence_share: float = Field(default=0.5, ge=0, le=1, description="pairs with confidence < 0.5, at most this share")
    eval_share: float = Field(default=0.1, gt=0, lt=1, description="held-out share for evaluation")
    min_eval_pairs: int = Field(default=2, ge=1)


class AutoApprovalConfig(StrictModel):
    enabled: bool = Field(default=True, description="false (MetaHuman's \"stop automation\"): nothing is approved automatically; "
                          "the sleep service never starts the nightly, and a nightly the person starts leaves activating to them")
    dataset: DatasetGates = Field(default_factory=DatasetGates)
    activate_adapter: bool = Field(default=True, description="the nightly run activates an adapter whose gates passed")


def _alias(name: str, metahuman: str) -> AliasChoices:
    """A key spelled as mh writes it or as MetaHuman OS does (camelCase), so either file reads."""
    return AliasChoices(name, metahuman)


CLOCK = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


class SleepWindow(StrictModel):
    start: str = Field(default="23:00", description="local time HH:MM the window opens")
    end: str = Field(default="06:30", description="local time HH:MM it closes; before start means the next morning")

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not CLOCK.match(value):
            raise ValueError(f"{value!r} is not a time of day like 23:00")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> SleepWindow:
        if self.start == self.end:
            raise ValueError("start and end are equal: the window would be empty")
        return self


class SleepAdapters(StrictModel):
    prompt: bool = Field(default=True, description="accepted for MetaHuman OS files; mh builds no prompt adapter")
    rag: bool = Field(default=True, description="accepted for MetaHuman OS files; the memory index is always kept")
    lora: bool = Field(default=True, description="false stops the night's dataset building and training, at once")


class SleepConfig(StrictModel):
    enabled: bool = True
    window: SleepWindow = Field(default_factory=SleepWindow)
    min_idle_mins: float = Field(default=15.0, ge=0, le=24 * 60, validation_alias=_alias("min_idle_mins", "minIdleMins"),
                                 description="the person must have been idle this long (no person entry in the audit log)")
    max_dreams_per_night: int = Field(default=3, ge=0, le=100, validation_alias=_alias("max_dreams_per_night", "maxDreamsPerNight"))
    catch_up: bool = Field(default=False, validation_alias=_alias("catch_up", "catchUp"),
                           description="a night missed entirely runs once at the first idle moment before the next window")
    adapters: SleepAdapters = Field(default_factory=SleepAdapters)
    show_in_ui: bool = Field(default=True, validation_alias=_alias("show_in_ui", "showInUI"), exclude=True,
                             description="accepted for MetaHuman OS files; ignored (the console and `mh agent ps` always show the service)")
    evaluate: bool = Field(default=True, exclude=True, description="accepted for MetaHuman OS files; ignored: the nightly always evaluates before it activates")
    lora_schedule: str | None = Field(default=None, max_length=100, validation_alias=_alias("lora_schedule", "loraSchedule"),
                                      description="accepted for MetaHuman OS files; ignored: the nightly runs on the night itself, when adapters.lora is true")


class BoredomIntervals(StrictModel):
    low: float = Field(default=900, ge=10, le=7 * 86400, description="seconds of idle time before a reflection")
    medium: float = Field(default=300, ge=10, le=7 * 86400)
    high: float = Field(default=60, ge=10, le=7 * 86400)
    custom: float | None = Field(default=None, ge=10, le=7 * 86400, description="used when level is custom")
    off: float | None = Field(default=None, description="accepted for MetaHuman OS files; ignored (MetaHuman writes -1): off never reflects")


class BoredomConfig(StrictModel):
    level: Literal["off", "low", "medium", "high", "custom"] = "off"
    intervals: BoredomIntervals = Field(default_factory=BoredomIntervals, validate_default=True)
    recent: int = Field(default=5, ge=1, le=50, description="how many recent memories a reflection draws from")
    show_in_chat: bool = Field(default=True, validation_alias=_alias("show_in_chat", "showInChat"), exclude=True,
                               description="accepted for MetaHuman OS files; ignored: a reflection is a memory, shown where memories are")
    lora_schedule: str | None = Field(default=None, max_length=100, validation_alias=_alias("lora_schedule", "loraSchedule"),
                                      description="accepted for MetaHuman OS files; ignored: training is the sleep service's (etc/sleep.json adapters.lora)")

    @field_validator("intervals")
    @classmethod
    def _custom_has_an_interval(cls, value: BoredomIntervals, info) -> BoredomIntervals:
        if info.data.get("level") == "custom" and value.custom is None:
            raise ValueError("level is custom but intervals.custom is not set (seconds)")
        return value

    @property
    def interval_s(self) -> float | None:
        """Seconds of idle time before a reflection; None when off."""
        return None if self.level == "off" else getattr(self.intervals, self.level)


CONFIG_MODELS: dict[str, type[StrictModel]] = {
    "sleep.json": SleepConfig,
    "boredom.json": BoredomConfig,
    "auto-approval.json": AutoApprovalConfig,
    "training.json": TrainingConfig,
    "memory.json": MemoryConfig,
    "agent.json": AgentConfig,
    "trust.json": TrustConfig,
    "audit.json": AuditConfig,
}


def _fix_for(error: dict, model: type[StrictModel]) -> str:
    kind = error["type"]
    if kind == "mh_key":
        return error["ctx"]["fix"]
    if kind == "extra_forbidden":
        return f"remove the key (allowed here: {', '.join(_allowed_keys(model, error['loc']))})"
    if kind == "missing":
        return "add the key"
    if kind in ("literal_error", "enum"):
        return f"use one of the values it names: {error['msg'].split('Input should be ')[-1]}"
    return "set a value of the right type and range (see docs/ARCHITECTURE.md, 'Config')"


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    current: type[BaseModel] = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        annotation = current.model_fields[part].annotation
        inner = getattr(annotation, "__args__", (annotation,))[0]
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            current = inner
    return sorted(current.model_fields)


def _key(loc: tuple) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")


def load_config(home: Home, name: str) -> StrictModel:
    """Read etc/NAME with its model. A missing file gives the defaults, except etc/trust.json: it
    gives `observe` (fail closed, see load_trust); anything bad raises."""
    try:
        return _read_config(home, name)
    except FileNotFoundError:
        return _closed_trust("etc/trust.json is missing") if name == "trust.json" else CONFIG_MODELS[name]()


def load_trust(home: Home) -> TrustConfig:
    """etc/trust.json, failing closed rather than hard: missing or unreadable, it reads as `observe`
    (reads run, every change is denied) with the reason in `.fallback`; never a looser level. The
    model's default level (`suggest`) is what `mh init` writes, not what a lost file means."""
    try:
        return _read_config(home, "trust.json")  # type: ignore[return-value]
    except FileNotFoundError:
        return _closed_trust("etc/trust.json is missing")
    except ConfigError as exc:
        return _closed_trust(f"etc/trust.json cannot be read ({exc.message})")


def _closed_trust(reason: str) -> TrustConfig:
    closed = TrustConfig(level=TrustLevel.observe)
    closed._fallback = f"{reason}: acting as observe, every change is denied"
    return closed


def _read_config(home: Home, name: str) -> StrictModel:
    """etc/NAME with its model; FileNotFoundError when it is missing, ConfigError when it is bad."""
    model = CONFIG_MODELS[name]
    path = home.config_file(name)
    shown = f"etc/{name}"
    try:
        raw = read_json_file(path)
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:
        raise ConfigError(shown, None, str(exc), fix="fix the file, or delete it to use the defaults") from None
    if not isinstance(raw, dict):
        raise ConfigError(shown, None, "must hold a JSON object", fix="wrap the settings in { }")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(shown, _key(first["loc"]), first["msg"], fix=_fix_for(first, model)) from None


def save_config(home: Home, name: str, config: StrictModel) -> None:
    if type(config) is not CONFIG_MODELS[name]:
        raise TypeError(f"{name} takes {CONFIG_MODELS[name].__name__}")
    write_json(home.config_file(name), config.model_dump(mode="json", exclude_none=True))


def template_text(name: str) -> str:
    """The committed template of etc/NAME: the model's defaults, pretty-printed."""
    return pretty(CONFIG_MODELS[name]().model_dump(mode="json", exclude_none=True))


class ConfigCache:
    """Reloads a config file only when it changed on disk, so per-call reads cost one stat."""

    def __init__(self, home: Home, name: str) -> None:
        self._home = home
        self._name = name
        self._stamp: tuple[int, int, int] | None = None
        self._value: StrictModel | None = None

    def get(self) -> StrictModel:
        try:
            st = os.stat(self._home.config_file(self._name))
            # Atomic writes replace the inode, so a rewrite within one mtime tick is still seen.
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = (0, 0, -1)
        if stamp != self._stamp or self._value is None:
            # trust.json is what the gate acts on: it fails closed (observe) instead of raising.
            self._value = load_trust(self._home) if self._name == "trust.json" else load_config(self._home, self._name)
            self._stamp = stamp
        return self._value
