"""``imax predict``: answer questions about every image of a folder; writes JSON lines."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from imax.schema.config.predict import PredictConfig as Config

HELP = "Answer questions about every image of a folder or list with a checkpoint (JSON lines)."


def run(cfg: Config) -> int:
    from tqdm import tqdm

    from imax.evaluate.predict import (
        Question,
        check_task,
        draw_overlay,
        list_images,
        load_predictor,
        predict_images,
        write_jsonl,
    )
    from imax.schema.errors import ImaxError

    questions = [Question.parse(q) for q in cfg.tasks.split(";") if q.strip()]
    if not questions:
        raise ImaxError("--tasks names no task")
    for q in questions:
        check_task(q.task)
    files = list_images(cfg.images)
    root = Path(cfg.images) if Path(cfg.images).is_dir() else None
    bar = tqdm(total=0, unit="answer", disable=not cfg.progress, file=sys.stderr)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    def skip(name: str, reason: str) -> None:
        print(f"imax predict: skipped {name}: {reason}", file=sys.stderr)

    with load_predictor(cfg.model, cfg.base, cfg.max_length) as predictor:
        result = predict_images(predictor, files, questions, root, cfg.batch_size, cfg.vision_cache_gb,
                                progress, on_skip=skip)
    bar.close()
    if cfg.overlays is not None:
        from imax.evaluate.predict import read_user_image

        for row in result.rows:
            if row["boxes"]:
                src = root / row["image"] if root is not None else Path(row["image"])
                name = f"{Path(row['image']).with_suffix('').as_posix().replace('/', '__')}.{row['task']}.png"
                row["overlay"] = str(draw_overlay(read_user_image(src), row["boxes"], cfg.overlays / name))
    write_jsonl(result.rows, cfg.out)
    status = Counter(r["parse_status"].split(":")[0] for r in result.rows)
    print(f"{result.images} images, {len(result.rows)} answers ({', '.join(f'{k} {v}' for k, v in sorted(status.items()))}), "
          f"{len(result.skipped)} unreadable → {cfg.out}")
    return 0


__all__ = ["HELP", "Config", "run"]
