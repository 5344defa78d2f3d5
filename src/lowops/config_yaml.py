"""YAML as lowops reads it: safe tags only, no duplicate keys, bounded depth and alias expansion.

PyYAML's SafeLoader builds no Python objects from tags, but silently keeps the last of two
equal keys and will expand an alias "bomb"; every message names the file, line and column.
"""

from __future__ import annotations

from typing import Any

import yaml

from lowops.errors import ConfigError

# A config file is a few hundred nodes; these bound what a hostile or broken one can cost
# (an alias "bomb" expands exponentially, a 20,000-deep file exhausts the stack).
MAX_YAML_DEPTH = 64
MAX_YAML_NODES = 100_000


class UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (PyYAML silently keeps the last one), deep nesting, and
    documents whose aliases expand past :data:`MAX_YAML_NODES` nodes."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._sizes: dict[int, int] = {}  # node id -> nodes it stands for once aliases are expanded

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]  # untyped in types-PyYAML
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise ConfigError(f"{mark.name}, line {mark.line + 1}, column {mark.column + 1}: nested more than "
                                  f"{MAX_YAML_DEPTH} levels deep; a lowops config is a few levels of keys.")
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node is not None and id(node) not in self._sizes:
            children: list[yaml.Node] = []
            if isinstance(node, yaml.SequenceNode):
                children = list(node.value)
            elif isinstance(node, yaml.MappingNode):
                children = [part for pair in node.value for part in pair]
            size = 1 + sum(self._sizes.get(id(child), 1) for child in children)
            if size > MAX_YAML_NODES:
                raise ConfigError(f"{mark.name}, line {mark.line + 1}, column {mark.column + 1}: its aliases (*name) "
                                  f"expand to more than {MAX_YAML_NODES:,} values; write the values out instead.")
            self._sizes[id(node)] = size
        return node


def _construct_mapping(loader: UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in mapping:
            mark = key_node.start_mark
            raise ConfigError(
                f"{mark.name}, line {mark.line + 1}, column {mark.column + 1}: "
                f"duplicate key {key!r}; each key may appear once in a mapping."
            )
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping
)
