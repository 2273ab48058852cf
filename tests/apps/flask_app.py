"""A small Flask app for the framework integration test."""
from flask import Flask, Response, jsonify, request

app = Flask(__name__)


@app.get("/")
def index():
    return "flask index"


@app.post("/form")
def form():
    return jsonify(name=request.form["name"], files=sorted(request.files))


@app.get("/json/<int:n>")
def as_json(n):
    return jsonify(n=n, args=request.args.to_dict(), path=request.path)


@app.get("/stream")
def stream():
    return Response((f"line {i}\n" for i in range(3)), mimetype="text/plain")
