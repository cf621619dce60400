"""Exceptions raised by mprnet_vs; every message names the input and what is wrong with it."""


class MprnetError(Exception):
    """Base class of every error mprnet_vs raises on bad input or configuration."""


class WeightsError(MprnetError):
    """A checkpoint is missing, unreadable, unsafe or not an MPRNet."""


class PresetError(MprnetError):
    """A preset file, profile, key or value is wrong."""


class InputError(MprnetError):
    """An image, frame or file given to the engine or a front end cannot be processed."""


class UsageError(MprnetError):
    """Settings that can never work (unknown codec, option or pixel format, clashing options or
    paths): the command line exits with code 2 for these, as for argparse's own usage errors."""

    exit_code = 2


class MissingDependency(MprnetError):
    """A library that one part needs (PyAV for video, VapourSynth for the filters) is not installed."""


def describe_os_error(exc: OSError) -> str:
    """``PATH: reason`` for an error of the file system, in the words of every other message
    (``name.png: file name too long``)."""
    reason = exc.strerror or str(exc)
    reason = reason[:1].lower() + reason[1:]
    return f"{exc.filename}: {reason}" if exc.filename is not None else reason


def first_line(exc: BaseException | str) -> str:
    """The first line of an exception's message (or of a text), else the exception's type name:
    messages are one line everywhere, however much a library wrote."""
    text = str(exc).strip()
    if text:
        return text.splitlines()[0]
    return type(exc).__name__ if isinstance(exc, BaseException) else ""
