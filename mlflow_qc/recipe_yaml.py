"""Reading recipe YAML the way a person wrote it.

PyYAML follows YAML 1.1, where a bare ``off``, ``on``, ``yes`` or ``no`` is a boolean: the
README's ``version: off`` would arrive as ``False``. Here every boolean keeps the text it was
written as (a ``YamlWord``) until the schema says what the field wants: a field that takes
text gets the text, any other field (``continue_on_error``, a hyperparameter value) the
boolean. The reader also refuses what ``yaml.safe_load`` lets through silently or fails on
with a traceback: a key given twice (the last one would win), bytes that are not UTF-8, and
nesting no recipe needs (PyYAML recurses once per level).
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal, Union

import yaml

from mlflow_qc.errors import QCError, one_line

MAX_DEPTH = 64  # a recipe is at most ~6 levels deep; this leaves room for nested params


class YamlWord(str):
    """A YAML 1.1 boolean as written (``off``, ``Yes``, ``true``) with its boolean value."""

    flag: bool

    def __new__(cls, text: str, flag: bool):
        word = super().__new__(cls, text)
        word.flag = flag
        return word


class _WordLoader(yaml.SafeLoader):
    pass


def _construct_word(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> YamlWord:
    if not isinstance(node, yaml.ScalarNode) or str(node.value).lower() not in loader.bool_values:  # `!!bool maybe`
        raise yaml.constructor.ConstructorError(None, None, f"{node.value!r} is not a boolean", node.start_mark)
    return YamlWord(node.value, loader.bool_values[node.value.lower()])


_WordLoader.add_constructor("tag:yaml.org,2002:bool", _construct_word)


def read_text(path: str) -> str:
    """The file's text; QCError for bytes that are not UTF-8."""
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise QCError(
            path, f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); expected a UTF-8 YAML file"
        ) from None


def load_yaml(text: str, where: str):
    """YAML text -> plain data with ``YamlWord`` booleans; QCError for what no recipe can be."""
    loader = _WordLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_node(node, where, "", 0)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise QCError(where, f"not valid YAML ({one_line(exc)})") from None
    except (ValueError, TypeError, KeyError) as exc:  # PyYAML's constructors on explicit tags: `!!int abc`
        raise QCError(where, f"not valid YAML ({type(exc).__name__}: {one_line(exc)[:200]})") from None
    except RecursionError:
        raise QCError(where, f"nested too deeply for YAML to read; expected at most {MAX_DEPTH} levels") from None
    finally:
        loader.dispose()


def _check_node(node: yaml.Node, where: str, path: str, depth: int) -> None:
    """Duplicate keys and excessive nesting, named by their place in the recipe."""
    if depth > MAX_DEPTH:
        shown = path if len(path) <= 60 else path[:60] + "..."
        raise QCError(
            f"{where}: {shown}",
            f"nested deeper than {MAX_DEPTH} levels (line {node.start_mark.line + 1}); expected a flatter value",
        )
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _check_node(item, where, f"{path}[{index}]", depth + 1)
    elif isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            name = str(key.value) if isinstance(key, yaml.ScalarNode) else "<complex key>"
            child = f"{path}.{name}" if path else name
            line = key.start_mark.line + 1
            if name in seen:
                raise QCError(
                    f"{where}: {child}", f"given twice (lines {seen[name]} and {line}); expected each key once"
                )
            seen[name] = line
            _check_node(value, where, child, depth + 1)


# --- YamlWord -> text or boolean, as the schema wants ---------------------------------------


def settle_words(value: Any, annotation: Any = Any) -> Any:
    """``value`` with every ``YamlWord`` made text where ``annotation`` takes text but no
    boolean, else the boolean. ``annotation``: a pydantic model class or a typing annotation."""
    if isinstance(value, YamlWord):
        return str(value) if _takes_text(annotation) and not _takes_bool(annotation) else value.flag
    model = _model_in(annotation)
    if model is not None and isinstance(value, dict):
        return _settle_model(value, model)
    if isinstance(value, dict):
        item = _argument(annotation, dict, 1)
        return {_key(k): settle_words(v, item) for k, v in value.items()}
    if isinstance(value, list):
        item = _argument(annotation, list, 0)
        return [settle_words(v, item) for v in value]
    return value


def _settle_model(value: dict, model) -> dict:
    fields = model.model_fields
    out = {}
    for key, item in value.items():
        key = _key(key)
        annotation = fields[key].annotation if key in fields else Any
        if key in fields and _argument(annotation, list, 0) is not Any and not isinstance(item, list):
            annotation = _argument(annotation, list, 0)  # a single item where a list is expected (inputs)
        out[key] = settle_words(item, annotation)
    return out


def _key(key):
    return str(key) if isinstance(key, YamlWord) else key


def _options(annotation) -> tuple:
    if typing.get_origin(annotation) in (Union, types.UnionType):
        return tuple(option for arg in typing.get_args(annotation) for option in _options(arg))
    return (annotation,)


def _takes_text(annotation) -> bool:
    for option in _options(annotation):
        if option is str or (
            typing.get_origin(option) is Literal and any(isinstance(a, str) for a in typing.get_args(option))
        ):
            return True
    return False


def _takes_bool(annotation) -> bool:
    return any(option is bool or option is Any for option in _options(annotation))


def _model_in(annotation):
    for option in _options(annotation):
        if isinstance(option, type) and hasattr(option, "model_fields"):
            return option
    return None


def _argument(annotation, container: type, position: int):
    """The item annotation of ``list[X]`` (position 0) or the value one of ``dict[K, V]`` (1)."""
    for option in _options(annotation):
        if typing.get_origin(option) is container and len(typing.get_args(option)) > position:
            return typing.get_args(option)[position]
    return Any


# --- keys the schema does not know, before any value is validated ------------------------------


def unknown_key(value: Any, annotation: Any, path: str = "") -> tuple[str, str, list[str]] | None:
    """The first key of ``value`` that the model ``annotation`` (and the models below it) does
    not take: ``(its dotted path, the key, the keys that section takes)``, or None. Cheap: it
    reads no file and imports nothing, so a misspelt key is reported before any validator runs."""
    model = _model_in(annotation)
    if model is None and isinstance(value, dict) and _model_in(_argument(annotation, list, 0)) is not None:
        model = _model_in(_argument(annotation, list, 0))  # a single item where a list is expected (inputs)
    if model is not None and isinstance(value, dict):
        fields = model.model_fields
        for key, item in value.items():
            key = _key(key)
            child = f"{path}.{key}" if path else str(key)
            if key not in fields:
                if model.model_config.get("extra") == "forbid":
                    return child, str(key), [name for name, info in fields.items() if not info.exclude]
                continue
            found = unknown_key(item, fields[key].annotation, child)
            if found:
                return found
        return None
    if isinstance(value, list):
        item = _argument(annotation, list, 0)
        for index, entry in enumerate(value):
            found = unknown_key(entry, item, f"{path}[{index}]")
            if found:
                return found
    elif isinstance(value, dict):
        item = _argument(annotation, dict, 1)
        for key, entry in value.items():
            found = unknown_key(entry, item, f"{path}.{key}")
            if found:
                return found
    return None
