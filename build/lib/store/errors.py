"""The error tree, split by who must act on the error."""


class CsdeskError(Exception):
    """Base of every error a caller is expected to read and act on."""


class NotFound(CsdeskError):
    """The id or name given does not exist."""


class Conflict(CsdeskError):
    """The write raced another one or breaks a state rule; re-read and retry."""


class Forbidden(CsdeskError):
    """The principal may not do this."""


class InvalidInput(CsdeskError):
    """The input is malformed; the message says what is accepted."""
