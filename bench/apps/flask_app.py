"""A one-route Flask app: what the framework adds on top of plaintext."""
from flask import Flask, Response

app = Flask(__name__)


@app.route("/")
def hello():
    return Response(b"Hello, World!", mimetype="text/plain")
