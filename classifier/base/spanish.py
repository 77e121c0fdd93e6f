"""Numbers as the program writes them in Spanish: a decimal comma, a dot between thousands."""


def decimal(value, places=1):
    """0.25 -> '0,3' (places=1): a fixed number of decimals with a decimal comma, no thousands mark."""
    return f"{value:.{places}f}".replace(".", ",")


def thousands(number):
    """12345678 -> '12.345.678': a whole number with a dot between thousands."""
    return f"{int(number):,}".replace(",", ".")


def percent(share, places=1):
    """0.8734 -> '87,3 %'."""
    return f"{decimal(share * 100, places)} %"


def exact(value):
    """0.7511999607086182 -> '0,7511999607086182': every digit Python keeps, with a decimal comma."""
    return repr(float(value)).replace(".", ",")
