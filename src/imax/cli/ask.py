"""``imax ask``: one question about one image; prints the raw and the parsed answer."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from imax.schema.config.predict import AskConfig as Config

HELP = "Ask a checkpoint one question about one image (raw and parsed answer, box overlay)."
POSITIONAL = ("text",)


def run(cfg: Config) -> int:
    from imax.evaluate.predict import (
        Question,
        ask,
        check_task,
        draw_overlay,
        load_predictor,
        make_entry,
        prepare_image,
    )

    check_task(cfg.task)
    question = Question(cfg.task, cfg.text)
    with tempfile.TemporaryDirectory(prefix="imax-ask-") as staging:
        image = prepare_image(cfg.image, Path(staging))
        make_entry(image, question)  # a bad argument (box outside the image, ...) fails before the model loads
        with load_predictor(cfg.model, cfg.base, cfg.max_length) as predictor:
            result = ask(predictor, image, question)
        if cfg.overlay is not None:  # only an answer with boxes has something to draw
            result["overlay"] = str(draw_overlay(image.pixels, result["boxes"], cfg.overlay)) if result["boxes"] else None
    if cfg.json:
        print(json.dumps(result))
        return 0
    print(f"prompt:  {result['prompt']}")
    print(f"output:  {result['output']}")
    print(f"parsed:  {json.dumps(result['parsed']) if result['parsed'] is not None else '-'}")
    print(f"status:  {result['parse_status']}")
    for b in result["boxes"]:
        print(f"box:     {b['role']} {[round(v, 1) for v in b['box']]} on {b['size'][0]}x{b['size'][1]} px")
    if "overlay" in result:
        print(f"overlay: {result['overlay'] or 'none written (the answer has no box)'}")
    return 0


__all__ = ["HELP", "POSITIONAL", "Config", "run"]
