"""``imax demo``: a local web page to put a checkpoint to uploaded or sample images.

Served by the standard library (``http.server``) on 127.0.0.1 only, with one self-contained HTML page
(no external scripts, fonts or CDNs). Gradio, the convention of LLaVA / MiniGPT-Med / LLaVA-Rad
demos, was not used: every current Gradio release needs pillow < 13 and imax pins pillow 13, so pip
would resolve a 2023 Gradio 3.x; a page of our own needs no extra install and is tested in a real
browser (tests/cli/test_demo.py).

Routes::

    GET  /                   the page
    GET  /api/info           {card, tasks: [{name, argument_help, needs_argument, description}], samples}
    GET  /api/sample/<i>     sample image i as PNG
    POST /api/ask            {task | "all", text, sample: i | upload: {name, data: base64}} →
                             {image: {width, height, png: data URL}, results: [answer rows]} or {error}

Answers come from :mod:`imax.evaluate.predict` (the evaluation's generation and parser); ``all``
asks every task that needs no argument and shows each as a section of a structured read.
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import tempfile
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

from imax.schema.errors import ImaxError

HOST = "127.0.0.1"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
MAX_UPLOAD = 64 * 2**20
"""Largest request body accepted (a base64 DICOM of a full radiograph is ~20 MB)."""


def _png(arr: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def find_samples(samples: Path | None, data_path: str | None, limit: int, scratch: Path) -> list[tuple[str, Path]]:
    """(name, path) of the sample images the page offers.

    ``samples``: a built dataset (its test split's images) or a folder of images. None: the test split
    of ``data_path`` (the dataset the checkpoint was trained on) when it exists, else a small phantom
    generated into ``scratch`` (its official test split).
    """
    from imax.evaluate.predict import is_dicom, list_images

    source = Path(samples) if samples is not None else (Path(data_path) if data_path else None)
    if source is not None and (source / "entries.parquet").is_file() and (source / "manifest.json").is_file():
        from imax.data import load_entries, read_data_root

        root = read_data_root(source)
        seen: dict[str, Path] = {}
        for e in load_entries(source, "test"):
            seen.setdefault(e["dicom_id"], root / e["image"])
        return sorted(seen.items())[:limit]
    if samples is not None:
        if not Path(samples).is_dir():
            raise ImaxError(f"--samples {str(samples)!r} is neither a built dataset nor a folder of images")
        # Only what looks like an image: a samples folder may hold CSVs and notes beside the pictures.
        images = [p for p in list_images(samples) if p.suffix.lower() in IMAGE_SUFFIXES or is_dicom(p)]
        return [(str(p.relative_to(samples)), p) for p in images[:limit]]
    import pandas as pd

    from imax.phantom import generate
    from imax.schema.config.phantom import PhantomConfig

    out = scratch / "phantom"
    generate(PhantomConfig(out=out, patients=max(4, limit), image_size=256, workers=1, seed=0))
    split = pd.read_csv(out / "mimic-cxr-2.0.0-split.csv.gz")
    test = set(split.loc[split["split"] == "test", "dicom_id"]) or set(split["dicom_id"])
    files = sorted(p for p in (out / "files").rglob("*.jpg") if p.stem in test)
    return [(p.stem, p) for p in files[:limit]]


class Demo:
    """The state behind the page: one loaded checkpoint, its card, the samples, a staging folder."""

    def __init__(self, cfg: Any) -> None:
        from imax.evaluate.predict import load_predictor, model_card, needs_argument
        from imax.tasks import TASKS

        self.scratch = Path(tempfile.mkdtemp(prefix="imax-demo-"))
        self.card = model_card(cfg.model, cfg.metrics)
        self.samples = find_samples(cfg.samples, self.card["data_path"], cfg.max_samples, self.scratch)
        self.predictor = load_predictor(cfg.model, cfg.base, cfg.max_length)
        self.tasks = [
            {"name": n, "argument_help": s.argument_help, "needs_argument": needs_argument(n),
             "description": s.description}
            for n, s in TASKS.items()
        ]
        self.lock = threading.Lock()  # one generation at a time: the model is not re-entrant
        self.uploads = 0

    def close(self) -> None:
        self.predictor.close()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def info(self) -> dict[str, Any]:
        return {"card": self.card, "tasks": self.tasks,
                "samples": [{"index": i, "name": n} for i, (n, _) in enumerate(self.samples)]}

    def sample_png(self, index: int) -> bytes:
        from imax.evaluate.predict import read_user_image

        if not 0 <= index < len(self.samples):
            raise ImaxError(f"no sample image {index}")
        return _png(read_user_image(self.samples[index][1]))

    def _image(self, body: dict[str, Any]) -> tuple[Path, str]:
        """(file to read, name shown) of the request's upload or sample."""
        upload = body.get("upload")
        if upload:
            name = re.sub(r"[^A-Za-z0-9._-]", "_", str(upload.get("name") or "upload"))[-80:]
            try:
                data = base64.b64decode(str(upload.get("data", "")).split(",")[-1], validate=True)
            except ValueError:
                raise ImaxError(f"upload {name!r}: not base64 data") from None
            self.uploads += 1
            path = self.scratch / "uploads" / f"{self.uploads:05d}-{name}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            return path, name
        if body.get("sample") is None:
            raise ImaxError("upload an image or pick a sample")
        index = int(body["sample"])
        if not 0 <= index < len(self.samples):
            raise ImaxError(f"no sample image {index}")
        return self.samples[index][1], self.samples[index][0]

    def ask(self, body: dict[str, Any]) -> dict[str, Any]:
        """Answer one request (see the module docstring); :class:`ImaxError` for the user's mistakes."""
        from imax.evaluate.predict import Question, answer_boxes, answer_entries, make_entry, prepare_image

        task = str(body.get("task") or "")
        text = body.get("text")
        text = str(text) if text is not None and str(text).strip() else None
        path, name = self._image(body)
        image = prepare_image(path, self.predictor.staging, name)
        if task == "all":
            questions = [Question(t["name"]) for t in self.tasks if not t["needs_argument"]]
        else:
            questions = [Question(task, text)]
        entries = [make_entry(image, q) for q in questions]
        with self.lock:
            rows = answer_entries(self.predictor, entries, batch_size=1, vision_cache_gb=0.0)
        for row, q in zip(rows, questions, strict=True):
            row["argument"] = q.text
            row["boxes"] = answer_boxes(row)
        w, h = image.size
        png = "data:image/png;base64," + base64.b64encode(_png(image.pixels)).decode()
        return {"image": {"width": w, "height": h, "png": png, "name": image.name}, "results": rows}


def _handler(holder: dict[str, Demo]) -> type[BaseHTTPRequestHandler]:
    """Request handler over ``holder["demo"]`` (filled once the model is loaded; no request is served
    before, as ``serve_forever`` starts after)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep the terminal for the URL and errors

        def _send(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def _json(self, code: int, data: Any) -> None:
            self._send(code, json.dumps(data).encode(), "application/json")

        def do_GET(self) -> None:
            demo = holder["demo"]
            try:
                if self.path in ("/", "/index.html"):
                    self._send(200, PAGE.encode(), "text/html; charset=utf-8")
                elif self.path == "/api/info":
                    self._json(200, demo.info())
                elif m := re.fullmatch(r"/api/sample/(\d+)", self.path):
                    self._send(200, demo.sample_png(int(m.group(1))), "image/png")
                else:
                    self._json(404, {"error": f"no such page {self.path}"})
            except ImaxError as exc:
                self._json(400, {"error": str(exc)})

        def do_POST(self) -> None:
            demo = holder["demo"]
            if self.path != "/api/ask":
                self._json(404, {"error": f"no such endpoint {self.path}"})
                return
            size = int(self.headers.get("Content-Length") or 0)
            if size > MAX_UPLOAD:
                self._json(413, {"error": f"request of {size} bytes exceeds {MAX_UPLOAD}"})
                return
            try:
                body = json.loads(self.rfile.read(size) or b"{}")
                self._json(200, demo.ask(body))
            except (ImaxError, ValueError) as exc:
                self._json(400, {"error": str(exc)})

    return Handler


def make_server(cfg: Any) -> tuple[ThreadingHTTPServer, Demo]:
    """Bind ``127.0.0.1:cfg.port`` (0: a free port), then load ``cfg.model``; the caller serves and closes.
    Binding first makes a busy port a one-line error before seconds of model loading."""
    holder: dict[str, Demo] = {}
    try:
        server = ThreadingHTTPServer((HOST, int(cfg.port)), _handler(holder))
    except OSError as exc:
        raise ImaxError(f"cannot listen on {HOST}:{cfg.port}: {exc.strerror or exc}") from None
    try:
        holder["demo"] = Demo(cfg)
    except BaseException:
        server.server_close()
        raise
    return server, holder["demo"]


def serve_demo(cfg: Any, ready: Callable[[str], None] | None = None) -> None:
    """Serve the page on ``127.0.0.1:cfg.port`` until interrupted; ``ready(url)`` is called once the
    socket listens (the URL names the port actually bound, also for port 0)."""
    server, demo = make_server(cfg)
    try:
        if ready is not None:
            ready(f"http://{HOST}:{server.server_address[1]}/")
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        demo.close()


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>imax demo</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#f6f7f9}
header{background:#1d3557;color:#fff;padding:10px 18px}header h1{font-size:18px;margin:0}
main{display:flex;gap:18px;padding:18px;align-items:flex-start}
.panel{background:#fff;border:1px solid #ddd;border-radius:6px;padding:12px}
#viewer{position:relative;width:512px;height:512px;background:#000}
#viewer img,#viewer svg{position:absolute;left:0;top:0;width:100%;height:100%}
#controls{width:420px}label{display:block;margin:8px 0 2px;font-weight:600}
select,input[type=text]{width:100%;box-sizing:border-box;padding:4px}
button{margin-top:10px;padding:6px 16px;font-size:14px}
#error{color:#b00020;margin-top:8px;white-space:pre-wrap}
section.answer{border-top:1px solid #eee;margin-top:8px;padding-top:6px}
section.answer h3{margin:0 0 4px;font-size:14px}code,pre{font-size:12px;white-space:pre-wrap;word-break:break-word}
.status-ok{color:#1b7f3b}.status-bad{color:#b00020}#card dt{font-weight:600}#card dd{margin:0 0 4px 0}
</style></head><body>
<header><h1>imax: ask a model about a chest X-ray</h1></header>
<main>
<div class="panel"><div id="viewer"><img id="image" alt=""><svg id="boxes" preserveAspectRatio="none"></svg></div>
<div id="imagename"></div></div>
<div id="controls" class="panel">
<label for="upload">Upload an image (PNG, JPEG, DICOM)</label><input type="file" id="upload">
<label for="sample">…or pick a sample</label><select id="sample"></select>
<label for="task">Task</label><select id="task"></select>
<label for="argument">Argument</label><input type="text" id="argument">
<div id="argument-help"></div>
<button id="ask">Ask</button><div id="error"></div>
<div id="answers"></div>
</div>
<div class="panel"><h2 style="font-size:15px;margin-top:0">Model card</h2><dl id="card"></dl></div>
</main>
<script>
"use strict";
const $ = id => document.getElementById(id);
let info = null, upload = null;
function esc(s){return String(s).replace(/[&<>"]/g,c=>({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"}[c]));}
function showCard(card){
  const rows = [["checkpoint",card.checkpoint],["kind",card.kind],["base",card.base],
    ["data manifest id",card.data_manifest_id||"—"],["trained tasks",(card.tasks||[]).join(", ")||"—"]];
  if (card.metrics){
    rows.push(["multi-task average", card.metrics.multitask_average==null?"n/a":card.metrics.multitask_average.toFixed(4)]);
    for (const [t,p] of Object.entries(card.metrics.primary))
      rows.push([t, p.metric+" = "+(p.value==null?"n/a":Number(p.value).toFixed(4))]);
    rows.push(["metrics", card.metrics_path]);
  } else rows.push(["metrics","no metrics.json found"]);
  $("card").innerHTML = rows.map(([k,v])=>"<dt>"+esc(k)+"</dt><dd>"+esc(v)+"</dd>").join("");
}
function onTask(){
  const t = info.tasks.find(x=>x.name===$("task").value);
  $("argument").placeholder = t ? (t.argument_help || "no argument") : "";
  $("argument").disabled = !t || !t.argument_help;
  $("argument-help").textContent = t ? (t.description||"") : "every task that needs no argument, as sections";
}
function showImage(src,w,h){ $("image").src=src; $("boxes").setAttribute("viewBox","0 0 "+w+" "+h); $("boxes").innerHTML=""; }
function drawBoxes(results,w,h){
  const svg=$("boxes"); let out="";
  const lw=Math.max(2,Math.min(w,h)/150);
  for (const r of results) for (const b of r.boxes){
    const sx=w/b.size[0], sy=h/b.size[1], [x1,y1,x2,y2]=b.box;
    const colour=b.role==="answer"?"#ff4040":"#40a0ff";
    out+='<rect class="box box-'+b.role+'" x="'+x1*sx+'" y="'+y1*sy+'" width="'+(x2-x1)*sx+'" height="'+(y2-y1)*sy+
         '" fill="none" stroke="'+colour+'" stroke-width="'+lw+'"></rect>';
    out+='<text x="'+(x1*sx+lw)+'" y="'+Math.max(12,y1*sy-4)+'" fill="'+colour+'" font-size="'+Math.max(12,h/30)+'">'+esc(b.label)+'</text>';
  }
  svg.innerHTML=out;
}
function showAnswers(results){
  $("answers").innerHTML = results.map(r=>{
    const ok=r.parse_status==="ok";
    return '<section class="answer" data-task="'+esc(r.task)+'"><h3>'+esc(r.task)+'</h3>'+
      '<div>prompt: <code>'+esc(r.prompt)+'</code></div>'+
      '<div>raw answer: <code class="raw">'+esc(r.output)+'</code></div>'+
      '<div>parsed: <code class="parsed">'+esc(r.parsed==null?"—":JSON.stringify(r.parsed))+'</code></div>'+
      '<div class="status '+(ok?"status-ok":"status-bad")+'">'+esc(r.parse_status)+'</div></section>';
  }).join("");
}
async function ask(){
  $("error").textContent=""; $("answers").innerHTML=""; $("ask").disabled=true;
  const body={task:$("task").value, text:$("argument").disabled?null:$("argument").value};
  if (upload) body.upload=upload; else body.sample=Number($("sample").value);
  try{
    const res=await fetch("/api/ask",{method:"POST",headers:{"Content-Type":"application/json"},body:JSON.stringify(body)});
    const data=await res.json();
    if (!res.ok){ $("error").textContent=data.error; return; }
    showImage(data.image.png,data.image.width,data.image.height);
    $("imagename").textContent=data.image.name+" ("+data.image.width+"×"+data.image.height+" px)";
    showAnswers(data.results); drawBoxes(data.results,data.image.width,data.image.height);
    document.body.dataset.answered=String(Number(document.body.dataset.answered||0)+1);
  } catch(e){ $("error").textContent=String(e); }
  finally{ $("ask").disabled=false; }
}
async function init(){
  info=await (await fetch("/api/info")).json();
  showCard(info.card);
  $("task").innerHTML=info.tasks.map(t=>'<option value="'+esc(t.name)+'">'+esc(t.name)+'</option>').join("")+
    '<option value="all">all (structured read)</option>';
  $("sample").innerHTML=info.samples.map(s=>'<option value="'+s.index+'">'+esc(s.name)+'</option>').join("");
  $("task").onchange=onTask; onTask();
  $("sample").onchange=()=>{ upload=null; $("upload").value=""; showImage("/api/sample/"+$("sample").value,1,1); };
  $("image").onload=()=>{ if($("boxes").getAttribute("viewBox")==="0 0 1 1")
      $("boxes").setAttribute("viewBox","0 0 "+$("image").naturalWidth+" "+$("image").naturalHeight); };
  if (info.samples.length) showImage("/api/sample/0",1,1);
  $("upload").onchange=()=>{
    const f=$("upload").files[0]; if(!f){upload=null;return;}
    const r=new FileReader();
    r.onload=()=>{ upload={name:f.name,data:r.result}; $("imagename").textContent=f.name+" (uploaded)";
      if (f.type.startsWith("image/")) showImage(r.result,1,1); };
    r.readAsDataURL(f);
  };
  $("ask").onclick=ask;
  document.body.dataset.ready="1";
}
init();
</script></body></html>
"""
