"""The web front end: FastAPI app with the Gradio chat, REST API, /embed view and widget.js."""
