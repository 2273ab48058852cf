"""``wsgi.file_wrapper`` (PEP 3333 "Optional Platform-Specific File
Handling"): the part of PEP 3333 that is not on the hot path.

The environ and start_response live in the compiled bridge
(prefork/wsgi/_bridge.pyx), since they run for every request.
"""
import io
import os
import stat


class FileWrapper:
    """``wsgi.file_wrapper``: a file body the server sends with os.sendfile()
    when it is a regular file with a descriptor, and reads in blocks
    otherwise."""

    def __init__(self, filelike, blksize=65536):
        self.filelike = filelike
        self.blksize = blksize
        close = getattr(filelike, "close", None)
        if close is not None:
            self.close = close

    def __iter__(self):
        read = self.filelike.read
        while True:
            block = read(self.blksize)
            if not block:
                return
            yield block

    def close(self):
        pass

    def fileno(self):
        return self.filelike.fileno()

    def can_sendfile(self):
        """True when the file is a regular file with a descriptor."""
        try:
            fd = self.filelike.fileno()
        except (AttributeError, OSError, io.UnsupportedOperation):
            return False
        try:
            return stat.S_ISREG(os.fstat(fd).st_mode)
        except OSError:
            return False

    def span(self):
        """(offset, length) of what is left to send: from the file's current
        position to its end."""
        fd = self.filelike.fileno()
        flush = getattr(self.filelike, "flush", None)
        if flush is not None:
            flush()
        offset = self.filelike.tell() if hasattr(self.filelike, "tell") else os.lseek(fd, 0, os.SEEK_CUR)
        return offset, max(os.fstat(fd).st_size - offset, 0)
