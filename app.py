"""Taskhook's Chalice app: every Lambda entry point, declared once. Nothing else lives here."""

from chalice import Chalice

from functions.api import api
from functions.docs import docs

app = Chalice(app_name="taskhook")
app.register_blueprint(api)
app.register_blueprint(docs)
