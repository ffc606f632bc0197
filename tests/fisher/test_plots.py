import json

from imax.fisher.plots import plot_spectra, plot_task_cosine, plot_trajectory, read_records


def _records(scale: float):
    recs = []
    for i, (name, frac) in enumerate([("initial", 0.0), ("early", 0.1), ("mid", 0.5), ("late", 1.0)]):
        eig = [scale * 10 ** (-j * (1 + i)) for j in range(6)] + [0.0, 0.0]
        recs.append(
            {
                "checkpoint": name,
                "step": int(frac * 100),
                "fraction": frac,
                "se": 1.5 - 0.2 * i * scale,
                "rho": 0.3 + 0.1 * i,
                "eigenvalues": eig,
                "task_cosine": {"tasks": ["calculation", "vqa"], "matrix": [[1.0, -0.2], [-0.2, None]]},
            }
        )
    return recs


def test_plots_are_written_from_json_only(tmp_path):
    a, b = tmp_path / "imax.json", tmp_path / "dmax.json"
    a.write_text(json.dumps(_records(1.0)))
    b.write_text(json.dumps(_records(0.5)))
    assert len(read_records(a)) == 4
    outs = [
        plot_trajectory({"imax": a, "dmax": b}, tmp_path / "traj.png"),
        plot_trajectory({"imax": _records(1.0)}, tmp_path / "traj_step.png", x="step"),
        plot_spectra(a, tmp_path / "spectra.png"),
        plot_task_cosine(a, tmp_path / "cos.png", checkpoint="mid"),
    ]
    for p in outs:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000
