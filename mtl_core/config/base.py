"""The strict base model every config section derives from."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Strict(BaseModel):
    # Typos in a config must fail loudly rather than silently fall back to a default; an error never
    # echoes the value it refused (a database URL with a password in it, say)
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
