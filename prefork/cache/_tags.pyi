"""Documentation of the response cache's tags (prefork/cache/_tags.pyx).

Tags come from the response's tag field (--cache-tag-header), separated by
commas or whitespace; they are stored with the entry and summarised in a
64-bit bloom in its slot. A purge by tag is one pass over the slot table,
comparing stored tags only where the bloom matches. The C API (tags_in,
encode_tags, bloom_of, drop_tagged) is used by prefork/cache/_lookup.pyx;
SharedCache.purge_tags() is the Python entry point.
"""
from typing import List, Union

MAX_TAG: int

def split_tags(value: Union[str, bytes]) -> List[bytes]:
    """The tags of one field value (commas or whitespace between them)."""
