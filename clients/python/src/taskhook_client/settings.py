"""Where the API is and which key to use: arguments first, then a named profile (`--profile`),
then `TASKHOOK_URL` / `TASKHOOK_API_KEY`, then the config file's `default` profile.

The config file is TOML, `~/.config/taskhook/config.toml` (`$XDG_CONFIG_HOME` is honoured; the
`TASKHOOK_CONFIG` variable names another file), one table per profile:

    [default]
    url = "http://127.0.0.1:8000"
    api_key = "th_…"

    [prod]
    url = "https://api.example.com"
    api_key = "th_…"
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

DEFAULT_PROFILE = "default"


def config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("TASKHOOK_CONFIG"):
        return Path(env["TASKHOOK_CONFIG"]).expanduser()
    base = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else Path.home() / ".config"
    return base / "taskhook" / "config.toml"


def read_profiles(path: Path) -> dict[str, dict[str, str]]:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable TOML file ({exc})") from None
    return {name: {k: str(v) for k, v in table.items()} for name, table in data.items() if isinstance(table, dict)}


@dataclass(frozen=True)
class Settings:
    url: str
    api_key: str

    def __repr__(self) -> str:  # never the key
        return f"Settings(url={self.url!r}, api_key='***')"


def resolve(url: str | None = None, api_key: str | None = None, profile: str | None = None,
            env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    path = config_path(env)
    profiles = read_profiles(path)
    chosen: dict[str, str] = {}
    if profile is not None:
        if profile not in profiles:
            raise ConfigError(f"no profile {profile!r} in {path}")
        chosen = profiles[profile]
    fallback = profiles.get(DEFAULT_PROFILE, {})
    final_url = url or chosen.get("url") or env.get("TASKHOOK_URL") or fallback.get("url")
    final_key = api_key or chosen.get("api_key") or env.get("TASKHOOK_API_KEY") or fallback.get("api_key")
    if not final_url:
        raise ConfigError("no API URL: set TASKHOOK_URL, pass --url, or add a profile to " + str(path))
    if not final_key:
        raise ConfigError("no API key: set TASKHOOK_API_KEY, pass --api-key, or add a profile to " + str(path))
    return Settings(final_url.rstrip("/"), final_key)
