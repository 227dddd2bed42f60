"""The one YAML loader: alias bombs, deep nesting and huge documents are refused while parsing; every
shipped document still loads exactly as ``yaml.safe_load`` loads it."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
import yaml

from touchflow.domain.safe_yaml import DEFAULT_LIMITS, YamlLimits, YamlTooLarge, load_yaml

ROOT = Path(__file__).parents[2]


def alias_bomb(levels: int = 9) -> str:
    """A journey body with chained anchors ("billion laughs"): 10**levels values once expanded, ~400 bytes."""
    names = "abcdefghijk"
    lines = ["key: bomb", "trigger: {event: signup}", 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"{names[n]}: &{names[n]} [" + ",".join([f"*{names[n - 1]}"] * 9) + "]" for n in range(1, levels)]
    lines.append(f"nodes: {{done: {{kind: exit, note: *{names[levels - 1]}}}}}")
    return "\n".join(lines) + "\n"


def test_the_alias_bomb_is_refused_before_it_expands() -> None:
    bomb = alias_bomb()
    assert len(bomb.encode()) < 460
    tracemalloc.start()
    try:
        with pytest.raises(YamlTooLarge) as caught:
            load_yaml(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.limit == "nodes"
    assert "limit nodes: 200000" in str(caught.value)
    assert peak < 2 * 1024 * 1024  # refused while composing: no expanded object was ever built


@pytest.mark.parametrize("levels", [6, 7])
def test_smaller_bombs_are_refused_too(levels: int) -> None:
    with pytest.raises(YamlTooLarge, match="limit nodes"):
        load_yaml(alias_bomb(levels))


def test_aliases_within_the_limits_load_as_safe_load_does() -> None:
    text = alias_bomb(3)  # 729 values: a large but honest reuse
    assert load_yaml(text) == yaml.safe_load(text)
    merged = "base: &base {channel: email, retries: 3}\nstep: {<<: *base, retries: 5}\nagain: *base\n"
    assert load_yaml(merged) == yaml.safe_load(merged)


def test_alias_count_is_limited() -> None:
    text = "a: &a 1\nb: [" + ", ".join(["*a"] * 20) + "]\n"
    with pytest.raises(YamlTooLarge) as caught:
        load_yaml(text, YamlLimits(max_aliases=10))
    assert caught.value.limit == "aliases" and "more than 10 aliases" in str(caught.value)
    assert load_yaml(text, YamlLimits(max_aliases=20))["b"] == [1] * 20


def test_an_alias_inside_its_own_anchor_is_refused() -> None:
    with pytest.raises(YamlTooLarge, match="contains it"):
        load_yaml("a: &a [1, *a]\n")


@pytest.mark.parametrize("text", ["[" * 5000 + "]" * 5000, "a:\n" + "".join(" " * n + "b:\n" for n in range(1, 200)),
                                  "{x: " * 3000 + "1" + "}" * 3000])
def test_deep_nesting_is_refused_not_a_crash(text: str) -> None:
    with pytest.raises(YamlTooLarge) as caught:
        load_yaml(text)
    assert caught.value.limit == "depth" and "deeper than 64 levels" in str(caught.value)


def test_depth_counts_what_aliases_expand_to() -> None:
    deep = "a: &a " + "[" * 40 + "]" * 40 + "\nb: " + "[" * 40 + "*a" + "]" * 40 + "\n"
    with pytest.raises(YamlTooLarge, match="deeper than 64"):
        load_yaml(deep)


def test_huge_documents_are_refused_before_parsing() -> None:
    huge = "notes: '" + "x" * DEFAULT_LIMITS.max_bytes + "'\n"
    with pytest.raises(YamlTooLarge) as caught:
        load_yaml(huge)
    assert caught.value.limit == "size"
    with pytest.raises(YamlTooLarge, match="limit size"):
        load_yaml(huge.encode())
    wide = "[" + ", ".join(["1"] * 300_000) + "]"  # under the size limit, over the node limit
    with pytest.raises(YamlTooLarge, match="limit nodes"):
        load_yaml(wide)
    chinese = "备注: " + "中" * (DEFAULT_LIMITS.max_bytes // 3)  # under the limit in characters, over it in bytes
    with pytest.raises(YamlTooLarge, match="limit size"):
        load_yaml(chinese)


SHIPPED = [*sorted((ROOT / "examples" / "journeys").glob("*.yaml")),
           ROOT / "src" / "touchflow" / "domain" / "data" / "ad_terms.yaml"]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_document_loads_identically(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert load_yaml(text) == yaml.safe_load(text)
    assert load_yaml(text.encode("utf-8")) == yaml.safe_load(text)


def test_syntax_errors_stay_yaml_errors() -> None:
    with pytest.raises(yaml.YAMLError):
        load_yaml("a: [1, 2\n")
