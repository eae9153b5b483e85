"""One parser for the devices a command names: train.py's --devices and predict.py/demo.py's --device."""

import pytest

from litcls.devices import lightning_device, parse_devices
from litcls.errors import UserError


@pytest.mark.parametrize("value, parsed", [("auto", "auto"), ("2", 2), ("0,1", [0, 1]), ("1,", [1]), ("-1", "-1")])
def test_devices_are_a_count_a_list_of_ids_or_lightnings_own_word(value, parsed):
    assert parse_devices(value) == parsed


@pytest.mark.parametrize("name, parsed", [("auto", ("auto", 1)), ("cpu", ("cpu", 1)), ("cuda:1", ("cuda", [1])),
                                          ("gpu:0", ("gpu", [0])), ("mps", ("mps", 1))])
def test_a_device_name_is_an_accelerator_and_one_device(name, parsed):
    assert lightning_device(name) == parsed


@pytest.mark.parametrize("call, message", [(lambda: parse_devices("0,x"), "--devices: '0,x' is not a list"),
                                            (lambda: lightning_device("cpu:1"), "--device: 'cpu:1' is not one of"),
                                            (lambda: lightning_device("cuda:x"), "--device: 'cuda:x' is not one of")])
def test_bad_devices_name_the_flag(call, message):
    with pytest.raises(UserError, match=message):
        call()
