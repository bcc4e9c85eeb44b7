"""Rate claims measured on synthetic problems (through :mod:`synthetic`): filled in when
synthetic.sweep is available; until then this family is empty."""


def claims() -> list:
    return []
