"""Device sources as written in an assignment: a bad simulator option is refused when written."""

from __future__ import annotations

import pytest

from devices.errors import SourceError
from devices.sources import SimOptions, parse_source, sim_options


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("sim:steady?speed=fast", "speed='fast' is not a number"),
        ("sim:steady?speed=0", "speed must be a positive number"),
        ("sim:steady?speed=nan", "speed must be a positive number"),
        ("sim:steady?nibp=inf", "nibp must be a positive number"),
        ("sim:steady?seed=-1", "seed='-1' is not a whole number"),
        ("sim:steady?seed=1.5", "seed='1.5' is not a whole number"),
        ("sim:steady?seed=²", "is not a whole number"),
        ("sim:steady?pace=2", "unknown simulator option(s): pace"),
    ],
)
def test_bad_simulator_options_are_refused_when_the_source_is_read(text: str, problem: str):
    with pytest.raises(SourceError) as refused:
        parse_source(text)
    assert problem in str(refused.value)


def test_simulator_options_read_with_their_defaults():
    assert sim_options(parse_source("sim:steady")) == SimOptions(1.0, 0, 15.0)
    given = sim_options(parse_source("sim:overdose?speed=20&seed=0&nibp=5"))
    assert given == SimOptions(speed=20.0, seed=0, nibp_every_min=5.0)
