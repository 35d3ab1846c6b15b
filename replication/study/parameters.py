"""The check every notebook runs first on the parameters it was given (papermill, or edited by hand).

A notebook's parameters are a table: name -> (type, item type or None, help). :func:`check` takes the
notebook's ``globals()``, refuses a name the table does not have and a value of the wrong type, each
with a one-line ``ValueError`` naming the parameter, and returns the values to use. ``papermill -p``
passes every value it cannot read as a number as a string (``-p include_smoke false`` is the string
"false", ``-p arms '[P, F]'`` the string "[P, F]"): a string given for a parameter that is not a
string is read as YAML first, so both forms mean what they say; ``-y "arms: [P, F]"`` passes typed
values directly.
"""
from __future__ import annotations

import types

import yaml

# names in a notebook's (or IPython's) globals() that are not parameters
_NOT_PARAMETERS = {"In", "Out", "get_ipython", "exit", "quit", "open"}


def given(values: dict) -> dict:
    """The parameters among a notebook's ``globals()``: no modules, callables, IPython names or _private."""
    return {k: v for k, v in values.items() if not k.startswith("_") and k not in _NOT_PARAMETERS
            and not isinstance(v, types.ModuleType) and not callable(v)}


def example(name: str, kind: type, item: type | None) -> str:
    """How to pass ``name`` on papermill's command line."""
    if item is not None:
        return f'-y "{name}: [...]"'
    if kind is bool:
        return f"-p {name} false"
    return f"-p {name} ..."


def _typed(value, kind: type, item: type | None) -> bool:
    def of(v, t):  # True is an int to Python, not to a notebook parameter
        return isinstance(v, t) and (t is bool or not isinstance(v, bool))

    return of(value, kind) and (item is None or all(of(v, item) for v in value))


def check(values: dict, table: dict, allowed, notebook: str) -> dict:
    """``values`` (a notebook's ``globals()``) checked against ``table`` (name -> (type, item type, help)) for
    the names ``allowed``; returns {name: value}, strings given for non-string parameters read as YAML."""
    found = given(values)
    unknown = sorted(set(found) - set(allowed))
    if unknown:
        raise ValueError(f"notebook parameter(s) {unknown} unknown to the {notebook} notebook; its parameters: "
                         f"{', '.join(allowed)}")
    out = {}
    for name in allowed:
        kind, item, text = table[name]
        value = found.get(name)
        if isinstance(value, str) and kind is not str:  # papermill -p: "false", "[P, F]", "[0, 1]"
            try:
                value = yaml.safe_load(value)
            except yaml.YAMLError:
                pass  # reported below as a value of the wrong type, with the string as given
        if not _typed(value, kind, item):
            expected = f"a list of {item.__name__} values" if item else f"a {kind.__name__}"
            raise ValueError(f"notebook parameter {name}={found.get(name)!r}: expected {expected} ({text}); e.g. "
                             f"{example(name, kind, item)}")
        out[name] = value
    return out
