"""Message templates: only plain {field} placeholders naming known fields."""

import pytest

from imagewatch.policy.errors import BadValue
from imagewatch.policy.template import parse_template

ALLOWED = ("image_name", "vul_num")


def test_pieces_and_fields():
    template = parse_template("{image_name} has {vul_num} ({vul_num}) {{literal}}", ALLOWED)
    assert template.fields == ("image_name", "vul_num")
    assert template.render({"image_name": "a", "vul_num": "3"}.__getitem__) == "a has 3 (3) {literal}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{vul_num!r}", "placeholder {vul_num} has a conversion or format spec; use plain {vul_num}"),
        ("{vul_num:>5}", "placeholder {vul_num} has a conversion or format spec; use plain {vul_num}"),
        (
            "{image_name.upper}",
            "unknown placeholder {image_name.upper} (did you mean 'image_name'?);"
            " expected one of image_name, vul_num",
        ),
        ("{}", "unknown placeholder {}; expected one of image_name, vul_num"),
        (
            "{vul_nun}",
            "unknown placeholder {vul_nun} (did you mean 'vul_num'?); expected one of image_name, vul_num",
        ),
        ("{image_name", "expected '}' before end of string; write literal braces as {{ and }}"),
    ],
)
def test_bad_templates(text, message):
    with pytest.raises(BadValue) as caught:
        parse_template(text, ALLOWED)
    assert caught.value.message == message
