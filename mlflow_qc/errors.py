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


def one_line(text: str) -> str:
    return " ".join(str(text).split())
