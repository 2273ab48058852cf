# C interface of the response cache's tags (prefork/cache/_tags.pyx):
# _lookup.pyx stores an entry's tags with it and purges by them.
from libc.stdint cimport uint64_t

from prefork.cache._store cimport SharedStore


cdef list tags_in(list headers, str name)
cdef bytes encode_tags(list tags)
cdef uint64_t bloom_of(SharedStore shm, list tags) except? 0
cdef int drop_tagged(SharedStore shm, list tags) except -1
