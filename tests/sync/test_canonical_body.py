"""The body of a push: compact, key-sorted UTF-8 JSON, the same bytes on every try."""

import json

from hypothesis import given
from hypothesis import strategies as st

from sync.delivery import canonical_body

# What a message holds: strings (Chinese names and all), integers, money and quantities as floats, flags.
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: x == 0 or abs(x) >= 1e-4)
    | st.text()
)
messages = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4))


def standard_library(message) -> bytes:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


@given(st.dictionaries(st.text(), messages, max_size=6))
def test_body_is_the_standard_librarys_canonical_json(message):
    assert canonical_body(message) == standard_library(message)


@given(st.floats(min_value=1e-12, max_value=1e-4, exclude_max=True))
def test_a_tiny_float_reads_back_as_the_same_number(value):
    assert json.loads(canonical_body({"value": value})) == {"value": value}


def test_chinese_text_is_sent_as_utf8_not_escaped():
    body = canonical_body({"name": "基准卫生院", "b": 1, "a": [2.4, None, True]})
    assert body == '{"a":[2.4,null,true],"b":1,"name":"基准卫生院"}'.encode()
