"""Parsers of option values typed on a command line: each turns the text
into a value or raises ``argparse.ArgumentTypeError`` saying what was
expected (argparse then names the option)."""
import argparse


def number(kind, test, expected):
    """A parser of ``kind`` values that pass ``test``."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f'{text!r} is not {expected}') from None
        if not test(value):
            raise argparse.ArgumentTypeError(f'{text} is not {expected}')
        return value
    parse.__name__ = expected
    return parse


positive_int = number(int, lambda v: v >= 1, 'a positive integer')
nonneg_int = number(int, lambda v: v >= 0, 'an integer >= 0')
at_least_two = number(int, lambda v: v >= 2, 'an integer >= 2')
positive_float = number(float, lambda v: v > 0, 'a positive number')
nonneg_float = number(float, lambda v: v >= 0, 'a number >= 0')
ratio = number(float, lambda v: 0 <= v < 1, 'a number in [0, 1)')
unit = number(float, lambda v: 0 <= v <= 1, 'a number in [0, 1]')


_unit_or_auto = number(float, lambda v: 0 <= v <= 1,
                       "a number in [0, 1] or 'auto'")


def unit_or_auto(text):
    """``'auto'``, or a number in [0, 1]."""
    return 'auto' if text == 'auto' else _unit_or_auto(text)


unit_or_auto.__name__ = _unit_or_auto.__name__


def layer_sizes(text):
    """``'10,10,10'`` -> ``[10, 10, 10]``."""
    try:
        sizes = [int(p) for p in text.split(',')]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f'{text!r} is not a comma-separated list of layer sizes, '
            'e.g. 10,10,10')
    return sizes
