"""The bare Flask endpoint bench/api.py compares Vigil with: it reads the same JSON body
and answers a small JSON object, nothing else. Served by the same gunicorn config."""

from flask import Flask, request

app = Flask(__name__)


@app.post("/v1/decisions")
def bare():
    body = request.get_json()
    return {"ok": True, "customer_id": body.get("customer_id")}, 201
