"""User-facing errors: one line naming the field, file or column and what was expected."""


class QCError(Exception):
    """A problem with the user's recipe, data or request.

    The message is one line, ``<where>: <what was expected>``; the CLI prints it as the
    last line and exits with status 2, the serving path turns it into HTTP 400.
    """

    def __init__(self, where: str, expected: str):
        self.where = where
        self.expected = expected
        super().__init__(f"{where}: {expected}")

    def __reduce__(self):  # travels back from worker processes
        return type(self), (self.where, self.expected)


class StoreError(Exception):
    """The machinery failed, not the user's input: the tracking server stopped answering, the
    artifact store is full. One line ``<where>: <problem>``; the CLI exits 1; a rerun resumes."""

    def __init__(self, where: str, problem: str):
        self.where = where
        self.problem = problem
        super().__init__(f"{where}: {problem}")

    def __reduce__(self):
        return type(self), (self.where, self.problem)


class TrackingUnreachable(StoreError):
    """The tracking server stopped answering: nothing more can be recorded until it is back."""


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def from_validation_error(exc, source: str) -> QCError:
    """The first pydantic error as one line naming the field."""
    err = exc.errors()[0]
    where = _location(err["loc"])
    if err["type"] == "extra_forbidden":
        parent, _, key = where.rpartition(".")
        return QCError(
            f"{source}: {_short(where)}",
            f"unknown key '{_short(key)}'{' in ' + parent if parent else ''}; expected a key listed in the README, section 'The recipe'",
        )
    if err["type"] == "missing":
        return QCError(f"{source}: {where}", "field required")
    message = err["msg"].removeprefix("Value error, ")
    value = err.get("input")
    shown = "" if isinstance(value, (dict, list)) or value is None else f" (got {_short(repr(value))})"
    return QCError(f"{source}: {where}", one_line(message) + shown)


_TYPE_TAGS = {"int", "str", "float", "bool", "none", "dict", "list", "is-instance"}


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _location(loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith(("function-", "lax-", "union[")) or "[" in str(part) or part in _TYPE_TAGS:
            continue  # pydantic's names for the member of a union that failed, not a field
        else:
            out += ("." if out else "") + str(part)
    return out or "recipe"
