"""Load YAML keeping the line of every node, so configuration errors can name their line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class LinedYaml:
    data: Any
    lines: dict[Path, int]  # path of keys/indexes -> 1-based line of that node

    def line_of(self, location: tuple[Any, ...]) -> int | None:
        """Line of the deepest node on `location` that exists (pydantic locations may carry
        extra parts such as a union tag, which are skipped)."""
        path: Path = ()
        best = self.lines.get(())
        node = self.data
        for part in location:
            in_dict = isinstance(node, dict) and part in node
            in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
            if not (in_dict or in_list):
                continue
            node = node[part]
            path = (*path, part)
            best = self.lines.get(path, best)
        return best


class YamlSyntaxError(ValueError):
    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def load_with_lines(text: str) -> LinedYaml:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise YamlSyntaxError(line, f"not valid YAML: {exc.problem or exc}") from exc
    lines: dict[Path, int] = {}
    if root is None:
        return LinedYaml(None, lines)
    # Let PyYAML resolve scalars (ints, floats, bools) the usual way, then walk both trees.
    constructor = yaml.SafeLoader(text)
    try:
        data = constructor.construct_document(root)
    finally:
        constructor.dispose()
    _record(root, (), lines)
    return LinedYaml(data, lines)


def _record(node: yaml.Node, path: Path, lines: dict[Path, int]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            lines[(*path, key)] = key_node.start_mark.line + 1
            _record_children(value_node, (*path, key), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record(item, (*path, index), lines)


def _record_children(node: yaml.Node, path: Path, lines: dict[Path, int]) -> None:
    # A key's own line is kept for scalars; nested collections record their children.
    if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
        first = lines.get(path)
        _record(node, path, lines)
        if first is not None:
            lines[path] = first
