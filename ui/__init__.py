"""The web front end: FastAPI app with the Gradio chat, REST API, /embed view and widget.js."""
from .gradio_stubs import install

install()   # before anything here imports gradio: see ui/gradio_stubs.py
