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


MAX_DEPTH = 64  # nesting deeper than this is refused before the (recursive) composer sees it
_OPEN = (yaml.BlockMappingStartToken, yaml.BlockSequenceStartToken, yaml.FlowMappingStartToken, yaml.FlowSequenceStartToken)
_CLOSE = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)


def load_yaml(text: str, source: str):
    """Parse ``text`` (from ``source``, for messages) strictly; any problem raises SmotextError."""
    depth = 0
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            depth += isinstance(token, _OPEN) - isinstance(token, _CLOSE)
            if depth > MAX_DEPTH:
                raise SmotextError(f"{source}: line {token.start_mark.line + 1}: nested more than {MAX_DEPTH} levels "
                                   "deep; a policy is a few levels deep")
            if isinstance(token, (yaml.TagToken, yaml.AnchorToken, yaml.AliasToken)):
                kind = {yaml.TagToken: "tag", yaml.AnchorToken: "anchor", yaml.AliasToken: "alias"}[type(token)]
                raise SmotextError(f"{source}: line {token.start_mark.line + 1}: YAML {kind}s are not allowed; "
                                   "write plain values")
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    except RecursionError:
        raise SmotextError(f"{source}: nested too deeply to read") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise SmotextError(f"{source}: not valid YAML{where}: {getattr(e, 'problem', None) or e}") from None
