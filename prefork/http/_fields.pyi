"""Documentation of the field-value helpers (prefork/http/_fields.pyx).

C API (see _fields.pxd): ``parse_http_date`` (RFC 9110 §5.6.7, all three
forms), ``next_element`` (list elements, §5.6.1), ``q_is_zero`` (weights,
§12.4.2) and the inline ``is_ows``, ``lc``, ``lower_is``.
"""
from typing import Optional, Union

def http_date(value: Union[bytes, str]) -> Optional[float]:
    """Epoch seconds of an IMF-fixdate, RFC 850 or asctime date; None if
    the value is not one."""
