"""A scripted LLM server on loopback: OpenAI's /v1/chat/completions (JSON and SSE streams) and Ollama's
/api/chat (JSON lines), replaying canned replies in order. It covers what a real model does only sometimes:
wrong or invented citations, malformed stream chunks, 429/500, a server that hangs."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Reply(dict):
    """text: the completion; status: an HTTP error instead; chunk: characters per stream chunk;
    delay: seconds between chunks; malformed: a broken chunk after the first; hang: seconds before answering;
    logprobs: [(token, logprob)] of the first token (JSON replies)."""


class ScriptedLLM:
    def __init__(self, respond=None, pace: float = 0.0):
        self.respond = respond     # request body -> reply text, when nothing is scripted
        self.pace = pace           # seconds between stream chunks of those replies
        self.replies: list[Reply] = []
        self.requests: list[dict] = []
        self.served: list[tuple[float, float, float]] = []   # perf_counter at request, first byte, last byte
        self.cancelled = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def script(self, *replies: Reply | str) -> None:
        self.replies = [r if isinstance(r, Reply) else Reply(text=r) for r in replies]
        self.requests.clear()
        self.cancelled.clear()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        llm = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, body: bytes, ctype="application/json", headers=()):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                started = time.perf_counter()
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                llm.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                reply = (llm.replies.pop(0) if llm.replies else Reply(text=llm.respond(body), delay=llm.pace) if llm.respond
                         else Reply(text="I cannot answer this from the sources."))
                time.sleep(reply.get("hang", 0))
                if reply.get("status"):
                    self._send(reply["status"], json.dumps({"error": {"message": "scripted error"},
                                                            "error_message": "scripted"}).encode(),
                               headers=[("Retry-After", "0")])
                    return
                ollama = self.path.startswith("/api/")
                if not body.get("stream", ollama):
                    self._send(200, json.dumps(self._whole(reply, body, ollama)).encode())
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson" if ollama else "text/event-stream")
                self.end_headers()
                text, size = reply.get("text", ""), reply.get("chunk", 4)
                first = None
                try:
                    for i in range(0, len(text), size):
                        piece = text[i:i + size]
                        if ollama:
                            line = json.dumps({"model": body.get("model"), "created_at": "2026-01-01T00:00:00Z",
                                               "message": {"role": "assistant", "content": piece}, "done": False})
                            self.wfile.write(line.encode() + b"\n")
                        else:
                            chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 0,
                                     "model": body.get("model"),
                                     "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                            self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
                        if reply.get("malformed") and i:
                            self.wfile.write(b"data: {\"choices\": [{\"delta\": \n\n" if not ollama else b"{oops\n")
                        self.wfile.flush()
                        first = first or time.perf_counter()
                        time.sleep(reply.get("delay", 0))
                    if ollama:
                        self.wfile.write(json.dumps({"model": body.get("model"), "created_at": "2026-01-01T00:00:00Z",
                                                     "message": {"role": "assistant", "content": ""}, "done": True,
                                                     "done_reason": "stop"}).encode() + b"\n")
                    else:
                        self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                    llm.served.append((started, first or time.perf_counter(), time.perf_counter()))
                except (BrokenPipeError, ConnectionResetError):
                    llm.cancelled.set()

            @staticmethod
            def _whole(reply, body, ollama) -> dict:
                text = reply.get("text", "")
                if ollama:
                    return {"model": body.get("model"), "created_at": "2026-01-01T00:00:00Z",
                            "message": {"role": "assistant", "content": text}, "done": True}
                choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                if reply.get("logprobs"):
                    first = [{"token": t, "logprob": lp, "bytes": None} for t, lp in reply["logprobs"]]
                    choice["logprobs"] = {"content": [{**first[0], "top_logprobs": first}]}
                return {"id": "c1", "object": "chat.completion", "created": 0, "model": body.get("model"),
                        "choices": [choice], "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}

        return Handler
