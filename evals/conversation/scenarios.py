"""Conversation scenarios: the YAML file, validated into typed scenarios.

The format is documented in ``evals/suites/conversation.py`` (and ``docs/evals.md``). A file that
cannot be used raises ``SuiteInputError`` naming the file, the line, the scenario and the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from evals.suites import SHARED_DATA, SuiteInputError
from voicebot.handoff_rules import ReasonCode

PATHS = ("faq", "llm", "abstain", "refuse", "handoff", "none")
AnswerPath = Literal["faq", "llm", "abstain", "refuse", "handoff", "none"]
Language = Literal["en", "zh"]
SHARED_PREFIX = "shared:"  # audio under the team's shared data folder (evals.suites.SHARED_DATA)


def _listed(value: Any) -> Any:
    """A single value where a list is allowed becomes a one-item list."""
    return [value] if isinstance(value, str) else value


class Expect(BaseModel):
    """What must hold after one caller turn; every key is optional."""

    model_config = ConfigDict(extra="forbid")
    answer_contains: list[str | list[str]] | None = None  # each item (or one of its alternatives) in the reply
    answer_excludes: list[str] | None = None  # none of these in the reply
    transcript_contains: list[str | list[str]] | None = None  # what the recogniser heard the caller say
    path: list[AnswerPath] | None = None  # the answer path is one of these
    abstains: bool | None = None  # path is (or is not) abstain
    hands_off: bool | None = None  # the call is (or is not) handed to a person on this turn
    reason: list[ReasonCode] | None = None  # the handoff's primary reason is one of these
    queue: str | None = None  # the handoff's ACD queue
    first_audio_ms_max: float | None = Field(default=None, gt=0)  # caller-measured, after end of speech

    @field_validator("answer_contains", "answer_excludes", "transcript_contains", "path", "reason", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _listed(value)

    @model_validator(mode="after")
    def _consistent(self) -> Expect:
        if self.reason is not None and self.hands_off is False:
            raise ValueError("`reason` names why the call is handed off, so `hands_off` cannot be false")
        if self.queue is not None and self.hands_off is False:
            raise ValueError("`queue` is the handoff's queue, so `hands_off` cannot be false")
        if self.abstains is True and self.path is not None and "abstain" not in self.path:
            raise ValueError("`abstains: true` contradicts `path` (it does not list abstain)")
        for name in ("answer_contains", "answer_excludes", "transcript_contains"):
            for item in getattr(self, name) or []:
                if not (item.strip() if isinstance(item, str) else item and all(s.strip() for s in item)):
                    raise ValueError(f"`{name}` has an empty string")
        return self

    def kinds(self) -> list[str]:
        """The expectation kinds this turn checks (the names of the suite's per-kind rates)."""
        out = [k for k in ("answer_contains", "answer_excludes", "transcript_contains", "path") if getattr(self, k)]
        out += [k for k in ("abstains", "hands_off", "reason", "queue") if getattr(self, k) is not None]
        if self.first_audio_ms_max is not None:
            out.append("latency")
        return out


class Turn(BaseModel):
    """One caller turn: synthesised text (``say``), a recorded file (``audio``) or a key press."""

    model_config = ConfigDict(extra="forbid")
    say: str | None = None
    audio: str | None = None  # relative to the YAML file, or "shared:asr/zh/x.wav"
    dtmf: str | None = Field(default=None, pattern=r"^[0-9*#]$")
    lang: Language | None = None  # the voice of `say` (default: the scenario's language)
    pause_s: float = Field(default=1.0, ge=0, le=30)  # silence before the caller speaks
    expect: Expect = Field(default_factory=Expect)

    @model_validator(mode="after")
    def _one_input(self) -> Turn:
        given = [k for k in ("say", "audio", "dtmf") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"a turn needs exactly one of `say`, `audio` or `dtmf` (got {', '.join(given) or 'none'})")
        if self.say is not None and not self.say.strip():
            raise ValueError("`say` is empty")
        return self

    def said(self) -> str:
        return self.say or (f"[audio {self.audio}]" if self.audio else f"[key {self.dtmf}]")


class CallExpect(BaseModel):
    """What must hold of the whole call, read from the handoff packet the server stored."""

    model_config = ConfigDict(extra="forbid")
    ticket_type: str | None = None  # the drafted ticket's type (console/ticket_templates.yaml)
    ticket_fields: dict[str, str | int | float | bool] | None = None  # drafted field values
    queue: str | None = None  # the queue the call was handed to

    def kinds(self) -> list[str]:
        return [k for k in ("ticket_type", "ticket_fields", "queue") if getattr(self, k)]


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=80)
    lang: Language
    tags: list[str] = Field(default_factory=list)
    description: str = ""
    turns: list[Turn] = Field(min_length=1)
    expect_call: CallExpect | None = None

    @model_validator(mode="after")
    def _handoff_last(self) -> Scenario:
        for i, turn in enumerate(self.turns[:-1]):
            if turn.expect.hands_off:
                raise ValueError(
                    f"turn {i + 1} expects a handoff but is not the last turn: after a handoff the bot no longer "
                    "answers, so end the scenario there"
                )
        if self.expect_call is not None and self.expect_call.kinds() and not self.turns[-1].expect.hands_off:
            raise ValueError("`expect_call` checks the handoff packet, so the last turn must expect `hands_off: true`")
        return self

    def language(self, turn: Turn) -> str:
        return turn.lang or self.lang


# --- loading --------------------------------------------------------------------------------------


def _line(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based line of the YAML node at ``loc`` (or of the deepest node found on the way)."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            child = node.value[part]
        elif isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
        if child is None:
            break
        node, line = child, child.start_mark.line + 1
    return line


def _field(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(the scenario)"


def audio_file(spec: str, yaml_path: Path) -> Path:
    """Where a turn's ``audio`` is: ``shared:…`` under the shared data folder, else beside the YAML."""
    if spec.startswith(SHARED_PREFIX):
        return SHARED_DATA / spec[len(SHARED_PREFIX) :]
    return (yaml_path.parent / spec).resolve()


def load_scenarios(path: Path) -> list[Scenario]:
    """Read and validate a scenario file; every problem is a ``SuiteInputError`` saying where and what."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SuiteInputError(f"{path}: no such scenario file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteInputError(f"{path}: cannot read the scenario file ({exc})") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise SuiteInputError(f"{path}{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    if not isinstance(raw, list) or not raw:
        raise SuiteInputError(f"{path}: expected a list of scenarios (`- id: …`), see docs/evals.md")
    scenarios: list[Scenario] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(raw):
        sid = item.get("id") if isinstance(item, dict) else None
        name = f"scenario {sid!r}" if isinstance(sid, str) else f"scenario #{i + 1}"
        if not isinstance(item, dict):
            raise SuiteInputError(f"{path}:{_line(root, (i,))}: {name}: expected a mapping with `id`, `lang`, `turns`")
        try:
            scenario = Scenario.model_validate(item)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            msg = err["msg"].removeprefix("Value error, ")
            more = f" (and {len(exc.errors()) - 1} more problem(s))" if len(exc.errors()) > 1 else ""
            raise SuiteInputError(
                f"{path}:{_line(root, (i, *loc))}: {name}, field {_field(loc)}: {msg}{more}"
            ) from None
        if scenario.id in seen:
            raise SuiteInputError(
                f"{path}:{_line(root, (i, 'id'))}: {name}: the id is already used by scenario #{seen[scenario.id]}; "
                "ids must be unique"
            )
        seen[scenario.id] = i + 1
        for t, turn in enumerate(scenario.turns):
            if turn.audio is not None and not audio_file(turn.audio, path).is_file():
                raise SuiteInputError(
                    f"{path}:{_line(root, (i, 'turns', t, 'audio'))}: {name}, field turns[{t}].audio: no such file "
                    f"{audio_file(turn.audio, path)} (a path relative to the YAML file, or `shared:asr/…` under "
                    "the shared data folder)"
                )
        scenarios.append(scenario)
    return scenarios
