"""The Token Vault's shared vocabulary: a stored token, its `tok_…` id, and the header values that
refer to one (intake checks them at create, the executor resolves them just before the call).

A header value is a *reference* when it is either
- exactly a token id: `tok_` followed by 24 lowercase hex digits (`tok_0123456789abcdef01234567`), or
- one scheme word, white space (spaces or tabs, as RFC 9110 allows), then a token id: `Bearer tok_…`,
  fal's `Key tok_…`, `Token tok_…`.
The executor replaces the id by the secret and keeps the scheme (`Bearer <secret>`).

Any other value that starts with `tok_`, or whose second word does (`Bearer tok_oops`, `tok_x y`),
is *meant* as a reference but names no token: refused at create (400 `Unknown token …`), never
sent as it is. Values that do neither (`Basic abc`, `x-tok_1`) are sent as they are.
See docs/vault.md.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from taskhook.model.errors import Conflict, ValidationFailed
from taskhook.model.limits import MAX_TOKEN_HOSTS, MAX_TOKEN_NAME, MAX_TOKENS_PER_TEAM
from taskhook.model.urls import InvalidUrl, parse_http_url

TOKEN_PREFIX = "tok_"  # noqa: S105 - the id's prefix, not a secret
PREVIEW_FULL_AT = 16  # a value this long or longer shows its last 4 characters
PREVIEW_SOME_AT = 8  # shorter, down to this: its last 2; shorter still: none

TOKEN_NOT_FOUND = "Token not found"  # noqa: S105 - a message

_ID = re.compile(r"tok_[0-9a-f]{24}")
_SCHEME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # one RFC 9110 token
_SCHEMED = re.compile(r"(?P<scheme>[^ \t]+)[ \t]+(?P<rest>tok_.*)", re.DOTALL)
_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9 ._-]*[A-Za-z0-9._-])?")  # no trailing space: "a " would pass for "a"


def new_token_id() -> str:
    return TOKEN_PREFIX + secrets.token_hex(12)


def is_token_id(value: object) -> bool:
    return isinstance(value, str) and _ID.fullmatch(value) is not None


@dataclass(frozen=True)
class Reference:
    """A header value that refers to the vault: `scheme` ("" for a bare id) and what follows it."""

    scheme: str
    token_id: str  # may be malformed: then it names no token

    @property
    def valid(self) -> bool:
        return is_token_id(self.token_id)

    def with_secret(self, secret: str) -> str:
        return f"{self.scheme} {secret}" if self.scheme else secret


def reference_in(value: str) -> Reference | None:
    """The reference a header value makes, or None when it is a plain value sent as it is."""
    if value.startswith(TOKEN_PREFIX):
        return Reference("", value)
    match = _SCHEMED.fullmatch(value)
    if match and _SCHEME.fullmatch(match["scheme"]):
        return Reference(match["scheme"], match["rest"])
    return None


def references(headers: dict[str, str]) -> dict[str, Reference]:
    """Each header (by name) whose value refers to the vault."""
    found = {}
    for name, value in headers.items():
        ref = reference_in(value)
        if ref is not None:
            found[name] = ref
    return found


def unknown_token(ref: Reference) -> ValidationFailed:
    """What a create that names no token of the team is told: the id as given (a malformed one is
    cut short, so an actual secret pasted by mistake is not echoed whole)."""
    shown = ref.token_id if ref.valid or len(ref.token_id) <= 32 else ref.token_id[:32] + "…"
    return ValidationFailed(f"Unknown token {shown}")


def preview_of(value: str) -> str:
    """At most the last 4 characters, fewer for a short value, none for a very short one."""
    if len(value) >= PREVIEW_FULL_AT:
        shown = value[-4:]
    elif len(value) >= PREVIEW_SOME_AT:
        shown = value[-2:]
    else:
        shown = ""
    return "****" + shown


def check_token_name(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise ValidationFailed("name is required")
    if len(name) > MAX_TOKEN_NAME or not _NAME.fullmatch(name):
        raise ValidationFailed(f"name must be 1 to {MAX_TOKEN_NAME} characters: letters, digits, spaces, "
                               "'.', '_' and '-', starting with a letter or digit, not ending with a space")
    return name


HOSTS_INVALID = (f"hosts must be a list of 1 to {MAX_TOKEN_HOSTS} host names (api.example.com, no scheme, port "
                 "or path), or null for any host")


def check_hosts(value: object) -> tuple[str, ...] | None:
    """A token's `hosts`: the only hosts a task may send it to, canonical (lower case, no trailing
    dot), or None: any host the task names (docs/vault.md)."""
    if value is None:
        return None
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_TOKEN_HOSTS:
        raise ValidationFailed(HOSTS_INVALID)
    hosts: list[str] = []
    for entry in value:
        if not isinstance(entry, str) or not entry or any(c in entry for c in "/?#@\\") \
                or (":" in entry and not (entry.startswith("[") and entry.endswith("]"))):
            raise ValidationFailed(HOSTS_INVALID)
        try:
            host = parse_http_url(f"https://{entry}/").host
        except InvalidUrl:
            raise ValidationFailed(HOSTS_INVALID) from None
        if host not in hosts:
            hosts.append(host)
    return tuple(hosts)


def not_for_host(token_id: str, host: str | None) -> str:
    return f"Token {token_id} may not be sent to {host or 'this URL'}: it is bound to other hosts"


def name_key(name: str) -> str:
    """Names are unique per team regardless of case ("Replicate" and "replicate" are one name)."""
    return name.casefold()


@dataclass(frozen=True)
class VaultToken:
    """A stored token: its value only as `sealed` (the Cipher's ciphertext, bound to team and id)."""

    id: str
    team_id: str
    name: str
    created_at: str
    updated_at: str
    preview: str
    sealed: bytes
    hosts: tuple[str, ...] | None = None  # the only hosts it may be sent to; None: any

    def allows(self, host: str | None) -> bool:
        return self.hosts is None or host in self.hosts

    def public(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name, "createdAt": self.created_at, "updatedAt": self.updated_at,
                "preview": self.preview, "hosts": None if self.hosts is None else list(self.hosts)}


def seal_context(team_id: str, token_id: str) -> dict[str, str]:
    """The encryption context: a ciphertext copied to another token's row (any team) does not decrypt."""
    return {"teamId": team_id, "tokenId": token_id, "field": "vaultToken"}


def name_taken(name: str) -> Conflict:
    return Conflict(f"A token named {name} already exists")


def too_many_tokens(cap: int = MAX_TOKENS_PER_TEAM) -> ValidationFailed:
    return ValidationFailed(f"Token limit reached: a team may store at most {cap} tokens; delete one first")
