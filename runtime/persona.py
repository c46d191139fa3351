"""The persona: who the agent is, from persona/core.json. The system prompt is built from it, small."""

from __future__ import annotations

from pydantic import Field

from .config import StrictModel
from .errors import ConfigError
from .home import Home
from .jsonio import pretty, read_json_file


class Persona(StrictModel):
    name: str = Field(default="Mira", min_length=1, max_length=80)
    identity: str = Field(default="a personal assistant that lives in one folder on this computer", max_length=400)
    values: list[str] = Field(default_factory=lambda: ["honesty", "privacy", "doing what was asked, no more"])
    style: str = Field(default="brief, plain and friendly", max_length=400)

    def system_prompt(self) -> str:
        values = ", ".join(self.values)
        return f"You are {self.name}, {self.identity}. You value {values}. Your style is {self.style}."

    def introduction(self) -> str:
        return f"I'm {self.name}, {self.identity}. I can work with your files, notes and tasks; `mh skills` lists what I can do."


def template_text() -> str:
    return pretty(Persona().model_dump(mode="json"))


def load_persona(home: Home) -> Persona:
    path = home.persona / "core.json"
    if not path.exists():
        return Persona()
    try:
        return Persona.model_validate(read_json_file(path))
    except ValueError as exc:  # pydantic's ValidationError is a ValueError too
        first = str(exc).splitlines()
        raise ConfigError("persona/core.json", None, " ".join(first[:3]), fix="fix the file, or delete it to use the default persona") from None
