"""The one YAML loader the project uses: safe, and strict where YAML is lax.

A repeated key (anywhere in the file) is an error instead of "the last copy wins"; explicit tags
(``!!float``, ``!!binary``, ``!python/...``) and anchors/aliases are refused, so what a file says
is what a reader sees."""

from __future__ import annotations

import yaml

from smotext.errors import SmotextError


class _StrictLoader(yaml.SafeLoader):
    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice (lines {seen[key] + 1} and {key_node.start_mark.line + 1})",
                    key_node.start_mark)
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str, source: str):
    """Parse ``text`` (from ``source``, for messages) strictly; any problem raises SmotextError."""
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if isinstance(token, (yaml.TagToken, yaml.AnchorToken, yaml.AliasToken)):
                kind = {yaml.TagToken: "tag", yaml.AnchorToken: "anchor", yaml.AliasToken: "alias"}[type(token)]
                raise SmotextError(f"{source}: line {token.start_mark.line + 1}: YAML {kind}s are not allowed; "
                                   "write plain values")
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise SmotextError(f"{source}: not valid YAML{where}: {getattr(e, 'problem', None) or e}") from None
