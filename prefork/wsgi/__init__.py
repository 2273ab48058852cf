"""PEP 3333: each request's environ, start_response and the thread-pool
runner (``_bridge``, compiled), and ``wsgi.file_wrapper`` (``filewrapper``).
"""
