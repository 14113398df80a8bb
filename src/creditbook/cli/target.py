"""Where a command runs: on a database (local mode) or against a server (remote mode).

The target is chosen, first match wins:

1. `--database-url URL`                      local
2. `--base-url URL`                          remote (key: CREDITBOOK_API_KEY, else the
                                             profile named by --profile)
3. `--profile NAME`                          that profile of the config file
4. CREDITBOOK_BASE_URL                       remote
5. CREDITBOOK_DATABASE_URL                   local
6. CREDITBOOK_PROFILE, else the config file's `default_profile`
7. `sqlite:///creditbook.db`                 local, in the working directory

The config file is TOML at CREDITBOOK_CONFIG, else `$XDG_CONFIG_HOME/creditbook/config.toml`,
else `~/.config/creditbook/config.toml`:

    default_profile = "prod"

    [profiles.prod]
    base_url = "https://credits.example.com"
    api_key = "cb_..."          # CREDITBOOK_API_KEY overrides it
    account_id = "acme"         # the default account of account-scoped commands

    [profiles.local]
    database_url = "sqlite:////srv/creditbook/creditbook.db"
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from creditbook.cli.errors import CliError, usage
from creditbook.client.config import ACCOUNT_ID_ENV, API_KEY_ENV, BASE_URL_ENV
from creditbook.settings import DEFAULT_DATABASE_URL

if TYPE_CHECKING:
    from creditbook.cli.backend import Backend

CONFIG_ENV = "CREDITBOOK_CONFIG"
PROFILE_ENV = "CREDITBOOK_PROFILE"
DATABASE_URL_ENV = "CREDITBOOK_DATABASE_URL"
# BASE_URL_ENV, API_KEY_ENV and ACCOUNT_ID_ENV are the SDK's: a remote command reads the
# same variables as a script on the SDK.
PROFILE_FIELDS = ("base_url", "api_key", "database_url", "account_id")


@dataclass(frozen=True, slots=True)
class Target:
    """Attributes:
    database_url: set in local mode.
    base_url, api_key: set in remote mode (the key may be missing: the server says 401).
    account: the default account of account-scoped commands, if any.
    source: which option, variable or profile chose it.
    """

    database_url: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    account: str | None = None
    source: str = "default"

    @property
    def is_remote(self) -> bool:
        return self.base_url is not None


@dataclass(frozen=True, slots=True)
class TargetOptions:
    """The target options every command takes."""

    database_url: str | None = None
    base_url: str | None = None
    profile: str | None = None


def config_path() -> Path:
    explicit = os.environ.get(CONFIG_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "creditbook" / "config.toml"


def load_config(path: Path | None = None) -> dict[str, Any]:
    path = path or config_path()
    if not path.exists():
        return {}
    try:
        config = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise usage(f"cannot read the config file {path}: {error}") from None
    profiles = config.get("profiles", {})
    if not isinstance(profiles, dict) or not all(isinstance(p, dict) for p in profiles.values()):
        raise usage(f"{path}: [profiles.NAME] tables expected")
    return config


def profile(name: str) -> dict[str, str]:
    path = config_path()
    profiles: dict[str, Any] = load_config(path).get("profiles", {})
    if name not in profiles:
        raise usage(f"no profile {name!r} in {path}")
    found = profiles[name]
    unknown = sorted(set(found) - set(PROFILE_FIELDS))
    if unknown:
        raise usage(f"profile {name!r} in {path} has unknown fields: {', '.join(unknown)}")
    if ("base_url" in found) == ("database_url" in found):
        raise usage(f"profile {name!r} in {path} needs exactly one of base_url and database_url")
    return {key: str(value) for key, value in found.items()}


def _from_profile(name: str, source: str) -> Target:
    found = profile(name)
    account = os.environ.get(ACCOUNT_ID_ENV) or found.get("account_id")
    if "database_url" in found:
        return Target(database_url=found["database_url"], account=account, source=source)
    return Target(
        base_url=found["base_url"],
        api_key=os.environ.get(API_KEY_ENV) or found.get("api_key"),
        account=account,
        source=source,
    )


def resolve(options: TargetOptions) -> Target:
    """The target of a command, by the order in this module's docstring."""
    environ = os.environ
    account = environ.get(ACCOUNT_ID_ENV) or None
    if options.database_url:
        return Target(database_url=options.database_url, account=account, source="--database-url")
    if options.base_url:
        key = environ.get(API_KEY_ENV) or None
        if options.profile and key is None:
            key = profile(options.profile).get("api_key")
        return Target(base_url=options.base_url, api_key=key, account=account, source="--base-url")
    if options.profile:
        return _from_profile(options.profile, f"profile {options.profile}")
    if environ.get(BASE_URL_ENV):
        return Target(
            base_url=environ[BASE_URL_ENV],
            api_key=environ.get(API_KEY_ENV) or None,
            account=account,
            source=BASE_URL_ENV,
        )
    if environ.get(DATABASE_URL_ENV):
        return Target(
            database_url=environ[DATABASE_URL_ENV], account=account, source=DATABASE_URL_ENV
        )
    name = environ.get(PROFILE_ENV) or load_config().get("default_profile")
    if name:
        return _from_profile(str(name), f"profile {name}")
    return Target(database_url=DEFAULT_DATABASE_URL, account=account, source="default")


def account_of(target: Target, account: str | None, backend: Backend) -> str:
    """The account an account-scoped command acts on: the argument, else the default, else
    (against a server) the account key's own account."""
    chosen = account or target.account or backend.own_account()
    if not chosen:
        raise CliError(
            "usage",
            f"give an account (or set {ACCOUNT_ID_ENV} or a profile's `account_id`, "
            "or use an account key)",
        )
    return chosen
