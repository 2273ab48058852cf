"""A Flask app whose Flask-Caching backend is prefork.contrib.flask.PreforkCache
(tests/contrib/test_flask_cache.py): /slow/<n> is memoized and counts its
calls in this process; /calls returns the counts with the pid."""
import os

from flask import Flask, jsonify
from flask_caching import Cache

app = Flask(__name__)
cache = Cache(app, config={"CACHE_TYPE": "prefork.contrib.flask.PreforkCache",
                           "CACHE_KEY_PREFIX": "flask:"})
calls = {}


@cache.memoize(timeout=60)
def slow(n):
    calls[n] = calls.get(n, 0) + 1
    return n * 3


@app.route("/slow/<int:n>")
def slow_view(n):
    return jsonify(value=slow(n), pid=os.getpid())


@app.route("/calls")
def calls_view():
    return jsonify(calls={str(k): v for k, v in calls.items()}, pid=os.getpid())
