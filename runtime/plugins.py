"""Plugin hooks (pluggy). Built-in skill families are plugins like any other."""

from __future__ import annotations

import importlib
from collections.abc import Callable

import pluggy

from .skills import Skill, SkillRegistry

hookspec = pluggy.HookspecMarker("mh")
hookimpl = pluggy.HookimplMarker("mh")

BUILTIN_PLUGINS = ("skills.fs", "skills.git", "skills.web", "skills.memory", "skills.tasks", "skills.dataset", "skills.train",
                   "skills.jobs", "skills.api", "skills.inbox")


class Hookspecs:
    @hookspec
    def register_skills(self, register: Callable[[Skill], None]) -> None:
        """Call `register(skill)` once for each skill the plugin offers."""


def plugin_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager("mh")
    manager.add_hookspecs(Hookspecs)
    for name in BUILTIN_PLUGINS:
        manager.register(importlib.import_module(name), name=name)
    manager.load_setuptools_entrypoints("mh")  # third-party plugins: [project.entry-points.mh]
    return manager


def load_registry(manager: pluggy.PluginManager | None = None) -> SkillRegistry:
    registry = SkillRegistry()
    (manager or plugin_manager()).hook.register_skills(register=registry.register)
    return registry
