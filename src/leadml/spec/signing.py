"""Sign-offs written into a feature spec file: one team's review of features for the current
`spec_version`, edited line by line so the file keeps its comments and layout."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import yaml

from leadml.errors import SpecError
from leadml.spec.features import REQUIRED_SIGNOFFS, FeatureSpec, SignOff, parse_spec
from leadml.spec.files import read_yaml

ITEM = re.compile(
    r"^(?P<dash>[ ]*)-[ ]+name:[ ]*(?P<q>['\"]?)(?P<name>[a-z][a-z0-9_]*)(?P=q)[ ]*(#.*)?$"
)


@dataclass(frozen=True)
class Signed:
    """What `sign` did: the new file text, the features signed, and whether the layout was kept
    (False: the file was rewritten from its data, without its comments)."""

    text: str
    features: list[str]
    version: int
    kept_layout: bool


def features_to_sign(spec: FeatureSpec, names: list[str] | None, source: str) -> list[str]:
    """The features a sign-off covers (`names`, or all when None), refused when one is unknown
    or its description, owner or missing meaning is still TODO."""
    wanted = spec.names if names is None else names
    unknown = [n for n in wanted if n not in spec.names]
    if unknown:
        raise SpecError(
            f"{source}: no feature named {', '.join(unknown)} (features: {', '.join(spec.names)})"
        )
    todo = []
    for name in wanted:
        fields = spec.feature(name).todo_fields()
        if fields:
            todo.append(f"{name} ({', '.join(fields)})")
    if todo:
        raise SpecError(
            f"{source}: nothing signed; these features are still TODO, so there is nothing to "
            f"review yet: {'; '.join(todo)}. Write them in, then sign"
        )
    return list(dict.fromkeys(wanted))


def sign(path: Path, team: str, by: str, names: list[str] | None, when: date) -> Signed:
    """The spec file at `path` with `team`'s sign-off by `by` on `when` for its current
    spec_version on each feature in `names` (all when None). The file is not written here."""
    if team not in REQUIRED_SIGNOFFS:
        raise SpecError(f"--team must be one of {', '.join(REQUIRED_SIGNOFFS)}, not {team!r}")
    if not by.strip():
        raise SpecError("--by must name who signs")
    text = path.read_bytes().decode("utf-8")  # line ends as written
    spec = parse_spec(read_yaml(path), str(path))
    chosen = features_to_sign(spec, names, str(path))
    entry = SignOff(by=by.strip(), when=when, version=spec.spec_version)
    expected = _expected(spec, chosen, team, entry)
    try:
        edited = _edit_lines(text, chosen, team, _flow(entry))
        if parse_spec(yaml.safe_load(edited), str(path)) == expected:
            return Signed(edited, chosen, spec.spec_version, kept_layout=True)
    except (SpecError, yaml.YAMLError, ValueError):
        pass
    raw = expected.model_dump(mode="json", exclude_none=True)
    dumped = yaml.safe_dump(raw, sort_keys=False, allow_unicode=True, width=100)
    return Signed(dumped, chosen, spec.spec_version, kept_layout=False)


def _expected(spec: FeatureSpec, chosen: list[str], team: str, entry: SignOff) -> FeatureSpec:
    features = [
        f.model_copy(update={"review": {**f.review, team: entry}}) if f.name in chosen else f
        for f in spec.features
    ]
    return spec.model_copy(update={"features": features})


def _scalar(text: str) -> str:
    """`text` as a YAML flow scalar: plain when it reads back as itself, else double-quoted."""
    try:
        plain = yaml.safe_load(f"{{k: {text}}}")
    except yaml.YAMLError:
        plain = None
    return text if plain == {"k": text} else json.dumps(text, ensure_ascii=False)


def _flow(entry: SignOff) -> str:
    return f"{{by: {_scalar(entry.by)}, when: {entry.when.isoformat()}, version: {entry.version}}}"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _content(line: str) -> bool:
    """A line holding YAML (not blank, not only a comment)."""
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _block_end(lines: list[str], start: int, indent: int) -> int:
    """The index after the last content line of the block that starts at `start` and holds
    the lines indented deeper than `indent` (blank and comment lines between count with it)."""
    last = start
    for k in range(start + 1, len(lines)):
        if _content(lines[k]):
            if _indent(lines[k]) <= indent:
                break
            last = k
    return last + 1


def _edit_lines(text: str, chosen: list[str], team: str, value: str) -> str:
    """`text` with `team: value` under each chosen feature's `review:`, line by line."""
    newline = "\r\n" if "\r\n" in text else "\n"
    lines = text.splitlines()
    items = {
        m["name"]: (k, len(m["dash"])) for k, line in enumerate(lines) if (m := ITEM.match(line))
    }
    missing = [n for n in chosen if n not in items]
    if missing:
        raise ValueError(f"no '- name: {missing[0]}' line")
    for name in sorted(chosen, key=lambda n: items[n][0], reverse=True):  # bottom up
        start, dash = items[name]
        key_indent = lines[start].index("name:")
        end = _block_end(lines, start, dash)
        lines[start:end] = _with_signoff(lines[start:end], key_indent, team, value)
    return newline.join(lines) + (newline if text.endswith(("\n", "\r")) else "")


def _with_signoff(block: list[str], key_indent: int, team: str, value: str) -> list[str]:
    """One feature's lines with the team's sign-off set in its `review:` mapping."""
    pad = " " * key_indent
    review = re.compile(rf"^{pad}review:[ ]*(?P<rest>[^#]*?)[ ]*(#.*)?$")
    at = next((k for k, line in enumerate(block) if review.match(line)), None)
    if at is None:
        return [*block, f"{pad}review:", f"{pad}  {team}: {value}"]
    rest = review.match(block[at])["rest"]  # type: ignore[index]
    if rest:  # a flow mapping on one line: `review: {}` or `review: {sales: {...}}`
        current = yaml.safe_load(rest) or {}
        if not isinstance(current, dict):
            raise ValueError("review is not a mapping")
        teams = [t for t in current if t != team]
        lines = [f"{pad}  {t}: {_flow(SignOff.model_validate(current[t]))}" for t in teams]
        return [*block[:at], f"{pad}review:", *lines, f"{pad}  {team}: {value}", *block[at + 1 :]]
    end = _block_end(block, at, key_indent)
    children = [k for k in range(at + 1, end) if _content(block[k])]
    child_pad = " " * (_indent(block[children[0]]) if children else key_indent + 2)
    mine = next((k for k in children if block[k].startswith(f"{child_pad}{team}:")), None)
    if mine is None:
        return [*block[:end], f"{child_pad}{team}: {value}", *block[end:]]
    mine_end = _block_end(block, mine, len(child_pad))
    return [*block[:mine], f"{child_pad}{team}: {value}", *block[mine_end:]]
