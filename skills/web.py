"""Web search: the one skill that leaves the machine (medium risk). SearXNG or Brave, as configured."""

from __future__ import annotations

import os

from pydantic import BaseModel, Field

from runtime.config import WebSearchConfig
from runtime.errors import SkillFailed
from runtime.plugins import hookimpl
from runtime.skills import SkillContext, skill

from .phrasings import phrasings


class WebSearchInput(BaseModel):
    query: str = Field(min_length=1, max_length=500, description="what to search for")


class WebResult(BaseModel):
    title: str
    url: str
    snippet: str = ""


class WebSearchResult(BaseModel):
    provider: str
    query: str
    results: list[WebResult]


def _say_results(r: dict) -> str:
    if not r["results"]:
        return f"No web results for {r['query']!r}."
    lines = [f"- {x['title']} — {x['url']}" + (f"\n  {x['snippet'][:200]}" if x["snippet"] else "") for x in r["results"]]
    return f"Web results for {r['query']!r} ({r['provider']}):\n" + "\n".join(lines)


NOT_CONFIGURED = ("web search is not configured",
                  'set web_search.provider to "searxng" (with searxng_url) or "brave" (key in $BRAVE_API_KEY) in etc/agent.json')


def _problem(cfg: WebSearchConfig) -> tuple[str, str] | None:
    """What keeps a search from being tried at all, with its fix; None when it can be tried. Checked
    before the gate (nothing is queued for approval that can only fail) and again when it runs."""
    if cfg.provider == "searxng" and not cfg.searxng_url:
        return "web_search.searxng_url is not set", "set it in etc/agent.json, e.g. http://127.0.0.1:8888"
    if cfg.provider == "brave" and not os.environ.get(cfg.brave_key_env):
        return f"${cfg.brave_key_env} is not set", f"export {cfg.brave_key_env}=<your Brave API key> where mh runs"
    if cfg.provider not in ("searxng", "brave"):
        return NOT_CONFIGURED
    return None


def _unconfigured(host) -> tuple[str, str] | None:
    return _problem(host.agent_config().web_search)


@skill(
    risk="medium", unavailable=_unconfigured,
    asks=(
        "search the web", "web", "internet", "online", "google", "look up", "browse", "search the", "search for",
        "duckduckgo", "bing",
    ),
    describe=_say_results,
    examples=phrasings("web_search"),
)
def web_search(ctx: SkillContext, args: WebSearchInput) -> WebSearchResult:
    """Search the web (SearXNG or Brave, set in etc/agent.json) and return titles, links and snippets."""
    cfg = ctx.agent_config().web_search
    if (problem := _problem(cfg)) is not None:  # an approved request runs later: the settings may have changed
        raise SkillFailed(problem[0], fix=problem[1])
    return _searxng(cfg, args.query) if cfg.provider == "searxng" else _brave(cfg, args.query)


def _get(url: str, *, params: dict, headers: dict, timeout: float) -> dict:
    import httpx  # only this skill talks to the network

    try:
        response = httpx.get(url, params=params, headers=headers, timeout=timeout, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise SkillFailed(f"the search service at {url} did not answer: {exc}", fix="check the URL in etc/agent.json") from None
    if response.status_code != 200:
        raise SkillFailed(f"the search service answered HTTP {response.status_code}", fix="check the URL and key")
    try:
        data = response.json()
    except ValueError:
        raise SkillFailed("the search service did not answer with JSON", fix="SearXNG needs `json` in its formats") from None
    if not isinstance(data, dict):
        raise SkillFailed("the search service answered with unexpected JSON", fix="check the provider setting")
    return data


def _searxng(cfg: WebSearchConfig, query: str) -> WebSearchResult:
    data = _get(f"{cfg.searxng_url.rstrip('/')}/search", params={"q": query, "format": "json"}, headers={},
                timeout=cfg.timeout_s)
    rows = data.get("results") or []
    results = [
        WebResult(title=str(r.get("title", "")), url=str(r.get("url", "")), snippet=str(r.get("content", "")))
        for r in rows[: cfg.max_results] if isinstance(r, dict)
    ]
    return WebSearchResult(provider="searxng", query=query, results=results)


def _brave(cfg: WebSearchConfig, query: str) -> WebSearchResult:
    data = _get(cfg.brave_url, params={"q": query, "count": cfg.max_results},
                headers={"X-Subscription-Token": os.environ[cfg.brave_key_env], "Accept": "application/json"}, timeout=cfg.timeout_s)
    rows = (data.get("web") or {}).get("results") or []
    results = [
        WebResult(title=str(r.get("title", "")), url=str(r.get("url", "")), snippet=str(r.get("description", "")))
        for r in rows[: cfg.max_results] if isinstance(r, dict)
    ]
    return WebSearchResult(provider="brave", query=query, results=results)


@hookimpl
def register_skills(register):
    register(web_search)
